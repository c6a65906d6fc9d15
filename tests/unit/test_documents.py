"""The conclusion letter as a PDF: every field a 鉴定结论书 must state, read back with pypdf;
the full citizen ID never printed; the same letter gives the same bytes; rare names printed
with the fallback fonts."""

from __future__ import annotations

import io
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from activities.documents import GlyphsMissing, masked_id, render_conclusion_letter
from infra import fonts
from infra.fonts import FontMissing, find_cjk_font, find_fallback_fonts
from schemas.application import CaseType
from schemas.clock import CHINA_TZ
from schemas.documents import ConclusionLetter
from schemas.outcome import Outcome, SelfCare, Verdict

CITIZEN_ID = "370102198503120038"  # male (17th digit 3), born 1985-03-12


@pytest.fixture(scope="module")
def font() -> Path:
    try:
        return find_cjk_font()
    except FontMissing as missing:  # the message says what to install
        pytest.fail(str(missing))


@pytest.fixture(scope="module")
def fallbacks() -> tuple[Path, ...]:
    try:
        return find_fallback_fonts()
    except FontMissing as missing:
        pytest.fail(str(missing))


def letter(**changes: Any) -> ConclusionLetter:
    data: dict[str, Any] = {
        "case_id": "JN-2026-000123",
        "committee": "济南市劳动能力鉴定委员会",
        "provincial_committee": "山东省劳动能力鉴定委员会",
        "case_type": CaseType.initial,
        "worker_name": "张建军",
        "citizen_id": CITIZEN_ID,
        "employer_name": "济南恒达建筑工程有限公司",
        "credit_code": "91370102MA3C4K7T2C",
        "injury_date": date(2026, 3, 18),
        "body_parts": ["右下肢"],
        "diagnosis": "右胫腓骨骨折，术后膝关节活动受限",
        "description": "施工中从脚手架坠落，右腿着地",
        "findings": "右膝关节活动度丧失约50%，右下肢肌力4级",
        "accepted_on": date(2026, 9, 28),
        "appraised_on": date(2026, 10, 15),
        "outcome": Outcome(verdict=Verdict.grade_7, self_care=SelfCare.partial),
        "basis": "GB/T 16180-2014",
        "clause": "5.7.2.10",
        "panel": ["王建国 主任医师", "李红梅 副主任医师", "赵志强 主任医师"],
        "reviews": ["面检组 张三", "总检组 李四", "复核组 王五"],
        "issued_at": datetime(2026, 10, 20, 10, 30, tzinfo=CHINA_TZ),
        **changes,
    }
    return ConclusionLetter.model_validate(data)


def text_of(pdf: bytes) -> str:
    """All pages' text without whitespace: wrapping and cell gaps do not split a field."""
    reader = PdfReader(io.BytesIO(pdf))
    return re.sub(r"\s+", "", "".join(page.extract_text() for page in reader.pages))


def base_fonts(pdf: bytes) -> set[str]:
    """The fonts the first page uses, without their subset prefix."""
    fonts = PdfReader(io.BytesIO(pdf)).pages[0]["/Resources"]["/Font"].get_object()
    return {str(f.get_object()["/BaseFont"]).split("+")[-1] for f in fonts.values()}


def test_the_letter_states_everything_a_conclusion_letter_must(font: Path) -> None:
    text = text_of(render_conclusion_letter(letter(), font))
    for expected in [
        "济南市劳动能力鉴定委员会",
        "劳动能力鉴定结论书",
        "编号：JN-2026-000123",
        "初次鉴定",
        "姓名张建军",
        "性别男",
        "出生日期1985年3月12日",
        "370102********0038",
        "用人单位济南恒达建筑工程有限公司",
        "统一社会信用代码91370102MA3C4K7T2C",
        "受伤日期2026年3月18日",
        "受伤部位右下肢",
        "诊断右胫腓骨骨折，术后膝关节活动受限",
        "伤情右膝关节活动度丧失约50%，右下肢肌力4级",
        "受理日期2026年9月28日鉴定日期2026年10月15日",
        "依据《劳动能力鉴定管理办法》和GB/T16180-2014第5.7.2.10条，",
        "鉴定结论：伤残七级，部分生活自理障碍",
        "王建国主任医师",
        "李红梅副主任医师",
        "赵志强主任医师",
        "审核：面检组张三；总检组李四；复核组王五",
        "2026年10月20日",
        "收到本结论书之日起15日内向山东省劳动能力鉴定委员会提出再次鉴定申请",
    ]:
        assert expected in text, expected
    # The panel's findings, not the applicant's own account of the accident.
    assert "脚手架" not in text


def test_a_letter_decided_before_findings_were_recorded_reads_as_before(font: Path) -> None:
    old = letter(findings=None, clause=None, accepted_on=None, appraised_on=None)
    text = text_of(render_conclusion_letter(old, font))
    assert "伤情施工中从脚手架坠落，右腿着地" in text
    assert "依据《劳动能力鉴定管理办法》和GB/T16180-2014，经" in text
    assert "受理日期" not in text and "鉴定日期" not in text


def test_a_clause_that_is_not_a_number_is_printed_as_given(font: Path) -> None:
    illness = letter(
        case_type=CaseType.illness,
        outcome=Outcome(verdict=Verdict.complete_loss),
        basis="劳社部发〔2002〕8号",
        clause="附件一第二条第（三）项",
    )
    assert "劳社部发〔2002〕8号附件一第二条第（三）项，" in text_of(
        render_conclusion_letter(illness, font)
    )


def test_the_full_citizen_id_is_never_printed(font: Path) -> None:
    pdf = render_conclusion_letter(letter(), font)
    assert CITIZEN_ID not in text_of(pdf)
    assert CITIZEN_ID.encode() not in pdf
    metadata = PdfReader(io.BytesIO(pdf)).metadata
    assert metadata is not None and "张建军" not in str(dict(metadata))
    assert masked_id("11010519491231002X") == "110105********002X"


def test_the_same_letter_renders_to_the_same_bytes(font: Path) -> None:
    first = render_conclusion_letter(letter(), font)
    assert render_conclusion_letter(letter(), font) == first
    later = letter(issued_at=datetime(2026, 10, 21, 9, 0, tzinfo=CHINA_TZ))
    assert render_conclusion_letter(later, font) != first


def test_an_illness_letter_renders_its_label_and_a_womans_details(font: Path) -> None:
    illness = letter(
        case_type=CaseType.illness,
        citizen_id="11010519491231002X",  # 17th digit 2: female
        outcome=Outcome(verdict=Verdict.complete_loss),
        basis="劳社部发〔2002〕8号",
        body_parts=["心脏"],
        reviews=[],
    )
    text = text_of(render_conclusion_letter(illness, font))
    assert "鉴定结论：完全丧失劳动能力" in text
    assert "因病鉴定" in text and "患病部位心脏" in text and "发病日期" in text
    assert "性别女" in text and "出生日期1949年12月31日" in text
    assert "劳社部发〔2002〕8号" in text and "审核：—" in text


def test_below_grade_and_re_appraisal_wording(font: Path) -> None:
    final = letter(case_type=CaseType.re_appraisal, outcome=Outcome(verdict=Verdict.below_grade))
    text = text_of(render_conclusion_letter(final, font))
    assert "鉴定结论：未达等级" in text and "伤残未达" not in text
    # Only the provincial committee's re-appraisal is final: a city letter never says so of
    # itself, and offers no further re-appraisal.
    assert "最终结论" not in text and "提出再次鉴定申请" not in text
    assert "再次鉴定的结论以山东省劳动能力鉴定委员会作出的为准" in text


def test_a_character_the_font_lacks_is_refused_not_printed_blank(font: Path) -> None:
    with pytest.raises(GlyphsMissing, match=r"U\+20BB7") as refused:
        render_conclusion_letter(letter(worker_name="吉𠮷"), font)
    assert "CJK_FONT" in str(refused.value)


def test_a_missing_font_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CJK_FONT", raising=False)
    monkeypatch.setattr(fonts, "DEBIAN_FONT_PATHS", (tmp_path / "none.ttc",))
    with pytest.raises(FontMissing, match="sudo apt-get install fonts-wqy-zenhei"):
        find_cjk_font()
    monkeypatch.setenv("CJK_FONT", str(tmp_path / "gone.ttf"))
    with pytest.raises(FontMissing, match=r"CJK_FONT=.*gone\.ttf is not a file"):
        find_cjk_font()
    (tmp_path / "mine.ttf").write_bytes(b"")
    monkeypatch.setenv("CJK_FONT", str(tmp_path / "mine.ttf"))
    assert find_cjk_font() == tmp_path / "mine.ttf"


@pytest.mark.parametrize("name", ["王𪚥", "吉𠮷", "赵孟𫖯", "𠀋𪚥"])  # Extensions B and C
def test_a_rare_name_is_printed_with_the_fallback_fonts(
    font: Path, fallbacks: tuple[Path, ...], name: str
) -> None:
    rare = letter(worker_name=name, body_parts=["右手𠮷指"])
    pdf = render_conclusion_letter(rare, font, fallbacks)
    text = text_of(pdf)
    assert f"姓名{name}性别男" in text and "受伤部位右手𠮷指" in text
    assert render_conclusion_letter(rare, font, fallbacks) == pdf
    assert base_fonts(pdf) == {"WenQuanYiZenHei", "HanaMinA"}


def test_a_common_letter_does_not_load_the_fallback_fonts(
    font: Path, fallbacks: tuple[Path, ...]
) -> None:
    pdf = render_conclusion_letter(letter(), font, fallbacks)
    assert pdf == render_conclusion_letter(letter(), font)
    assert base_fonts(pdf) == {"WenQuanYiZenHei"}


@pytest.mark.parametrize("character", ["😀", "𰀀", "\ue000"])  # emoji, Extension G, private use
def test_what_no_font_prints_is_refused_even_with_fallbacks(
    font: Path, fallbacks: tuple[Path, ...], character: str
) -> None:
    with pytest.raises(GlyphsMissing, match=rf"lack U\+{ord(character):04X}: set CJK_FONT"):
        render_conclusion_letter(letter(worker_name=f"王{character}"), font, fallbacks)


def test_missing_fallback_fonts_say_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CJK_FALLBACK_FONTS", raising=False)
    monkeypatch.setattr(fonts, "DEBIAN_FALLBACK_FONTS", (tmp_path / "HanaMinA.ttf",))
    with pytest.raises(FontMissing, match="sudo apt-get install fonts-hanazono"):
        find_fallback_fonts()
    (tmp_path / "a.ttf").write_bytes(b"")
    monkeypatch.setenv("CJK_FALLBACK_FONTS", f"{tmp_path / 'a.ttf'}:{tmp_path / 'gone.ttf'}")
    with pytest.raises(FontMissing, match=r"CJK_FALLBACK_FONTS names .*gone\.ttf, which is not"):
        find_fallback_fonts()
    (tmp_path / "b.ttf").write_bytes(b"")
    monkeypatch.setenv("CJK_FALLBACK_FONTS", f"{tmp_path / 'a.ttf'}:{tmp_path / 'b.ttf'}")
    assert find_fallback_fonts() == (tmp_path / "a.ttf", tmp_path / "b.ttf")
