"""The conclusion letter as a PDF: every field a 鉴定结论书 must state, read back with pypdf;
the full citizen ID never printed; the same letter gives the same bytes; rare names printed
with the fallback fonts; the typefaces of official documents; no line begins with a closing
punctuation mark; the fonts parsed once per process, with the same bytes."""

from __future__ import annotations

import io
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from fpdf import FPDF
from pypdf import PdfReader

from activities import documents
from activities.documents import GlyphsMissing, masked_id, render_conclusion_letter
from activities.typesetting import CLOSING
from infra import fonts
from infra.fonts import (
    DEBIAN_FONT_PATHS,
    Face,
    FontMissing,
    LetterFonts,
    find_cjk_font,
    find_fallback_fonts,
    find_letter_fonts,
)
from schemas.application import CaseType
from schemas.clock import CHINA_TZ
from schemas.documents import ConclusionLetter
from schemas.outcome import Outcome, SelfCare, Verdict

CITIZEN_ID = "370811198503120438"  # male (17th digit 3), born 1985-03-12


NOTO = {"NotoSerifCJKSC", "NotoSerifCJKSCBold", "NotoSansCJKSC"}  # text, title, headings


@pytest.fixture(scope="module")
def letter_fonts() -> LetterFonts:
    """The fonts with their fallbacks, as the activity finds them."""
    try:
        return find_letter_fonts()
    except FontMissing as missing:  # the message says what to install
        pytest.fail(str(missing))


@pytest.fixture(scope="module")
def font(letter_fonts: LetterFonts) -> LetterFonts:
    """The main fonts only: what a letter without rare characters is set in."""
    return letter_fonts.without_fallbacks()


def letter(**changes: Any) -> ConclusionLetter:
    data: dict[str, Any] = {
        "case_id": "JN-2026-000123",
        "committee": "济宁市劳动能力鉴定委员会",
        "provincial_committee": "山东省劳动能力鉴定委员会",
        "case_type": CaseType.initial,
        "worker_name": "张建军",
        "citizen_id": CITIZEN_ID,
        "employer_name": "济宁恒达建筑工程有限公司",
        "credit_code": "91370811MA3C4K7T2H",
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
    """All pages' text without whitespace: wrapping and cell gaps do not split a field. (pypdf
    reads the 2-byte codes of Noto's CFF subsets with a NUL before each character; poppler and
    other viewers read them right.)"""
    reader = PdfReader(io.BytesIO(pdf))
    return re.sub(r"[\s\x00]+", "", "".join(page.extract_text() for page in reader.pages))


def segments(pdf: bytes) -> list[str]:
    """The text of each BT … ET block, without whitespace: fpdf2 writes one for each line of a
    paragraph or a table cell (and for each font within a line: a label, then its text)."""
    found: list[list[str]] = []

    def begin(operator: bytes, *_: Any) -> None:
        if operator == b"BT":
            found.append([])

    def text(shown: str, *_: Any) -> None:
        if found:
            found[-1].append(shown)

    for page in PdfReader(io.BytesIO(pdf)).pages:
        page.extract_text(visitor_operand_after=begin, visitor_text=text)
    joined = (re.sub(r"[\s\x00]+", "", "".join(parts)) for parts in found)
    return [line for line in joined if line]


def base_fonts(pdf: bytes) -> set[str]:
    """The fonts the first page uses, without their subset prefix."""
    fonts = PdfReader(io.BytesIO(pdf)).pages[0]["/Resources"]["/Font"].get_object()
    return {str(f.get_object()["/BaseFont"]).split("+")[-1] for f in fonts.values()}


def test_the_letter_states_everything_a_conclusion_letter_must(font: LetterFonts) -> None:
    text = text_of(render_conclusion_letter(letter(), font))
    for expected in [
        "济宁市劳动能力鉴定委员会",
        "劳动能力鉴定结论书",
        "编号：JN-2026-000123",
        "初次鉴定",
        "姓名张建军",
        "性别男",
        "出生日期1985年3月12日",
        "370811********0438",
        "用人单位济宁恒达建筑工程有限公司",
        "统一社会信用代码91370811MA3C4K7T2H",
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


def test_a_letter_decided_before_findings_were_recorded_reads_as_before(font: LetterFonts) -> None:
    old = letter(findings=None, clause=None, accepted_on=None, appraised_on=None)
    text = text_of(render_conclusion_letter(old, font))
    assert "伤情施工中从脚手架坠落，右腿着地" in text
    assert "依据《劳动能力鉴定管理办法》和GB/T16180-2014，经" in text
    assert "受理日期" not in text and "鉴定日期" not in text


def test_a_clause_that_is_not_a_number_is_printed_as_given(font: LetterFonts) -> None:
    illness = letter(
        case_type=CaseType.illness,
        outcome=Outcome(verdict=Verdict.complete_loss),
        basis="劳社部发〔2002〕8号",
        clause="附件一第二条第（三）项",
    )
    assert "劳社部发〔2002〕8号附件一第二条第（三）项，" in text_of(
        render_conclusion_letter(illness, font)
    )


def test_the_full_citizen_id_is_never_printed(font: LetterFonts) -> None:
    pdf = render_conclusion_letter(letter(), font)
    assert CITIZEN_ID not in text_of(pdf)
    assert CITIZEN_ID.encode() not in pdf
    metadata = PdfReader(io.BytesIO(pdf)).metadata
    assert metadata is not None and "张建军" not in str(dict(metadata))
    assert masked_id("11010519491231002X") == "110105********002X"


def test_the_same_letter_renders_to_the_same_bytes(font: LetterFonts) -> None:
    first = render_conclusion_letter(letter(), font)
    assert render_conclusion_letter(letter(), font) == first
    later = letter(issued_at=datetime(2026, 10, 21, 9, 0, tzinfo=CHINA_TZ))
    assert render_conclusion_letter(later, font) != first


def test_an_illness_letter_renders_its_label_and_a_womans_details(font: LetterFonts) -> None:
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


def test_below_grade_and_re_appraisal_wording(font: LetterFonts) -> None:
    final = letter(case_type=CaseType.re_appraisal, outcome=Outcome(verdict=Verdict.below_grade))
    text = text_of(render_conclusion_letter(final, font))
    assert "鉴定结论：未达等级" in text and "伤残未达" not in text
    # Only the provincial committee's re-appraisal is final: a city letter never says so of
    # itself, and offers no further re-appraisal.
    assert "最终结论" not in text and "提出再次鉴定申请" not in text
    assert "再次鉴定的结论以山东省劳动能力鉴定委员会作出的为准" in text


def test_a_character_the_font_lacks_is_refused_not_printed_blank(font: LetterFonts) -> None:
    with pytest.raises(GlyphsMissing, match=r"U\+2A6A5") as refused:
        render_conclusion_letter(letter(worker_name="王𪚥"), font)
    assert "CJK_FONT" in str(refused.value)


def test_a_missing_font_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CJK_FONT", raising=False)
    monkeypatch.setattr(fonts, "DEBIAN_FONT_PATHS", (tmp_path / "none.ttc",))
    monkeypatch.setattr(fonts, "NOTO_FACES", ((tmp_path / "none.ttc", "Noto Serif CJK SC"),))
    with pytest.raises(FontMissing, match="sudo apt-get install fonts-noto-cjk fonts-wqy-zenhei"):
        find_letter_fonts()
    monkeypatch.setenv("CJK_FONT", str(tmp_path / "gone.ttf"))
    with pytest.raises(FontMissing, match=r"CJK_FONT=.*gone\.ttf is not a file"):
        find_cjk_font()
    (tmp_path / "mine.ttf").write_bytes(b"")
    monkeypatch.setenv("CJK_FONT", str(tmp_path / "mine.ttf"))
    assert find_cjk_font() == tmp_path / "mine.ttf"
    mine = Face(tmp_path / "mine.ttf")
    assert find_letter_fonts().main == (mine,)  # one font for the whole letter


def test_the_letter_is_set_in_the_typefaces_of_official_documents(font: LetterFonts) -> None:
    # 小标宋 → Noto Serif CJK SC Bold (title), 仿宋 → Noto Serif CJK SC (text),
    # 黑体 → Noto Sans CJK SC (labels): the Simplified Chinese faces of their collections.
    assert base_fonts(render_conclusion_letter(letter(), font)) == NOTO, (
        "install fonts-noto-cjk: `make font`"
    )
    assert [face.number for face in font.main] == [2, 2, 2]


def test_without_noto_the_letter_is_set_in_zen_hei_as_before(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CJK_FONT", raising=False)
    monkeypatch.setattr(fonts, "NOTO_FACES", ((tmp_path / "none.ttc", "Noto Serif CJK SC"),))
    plain = find_letter_fonts()
    assert plain.main == (Face(DEBIAN_FONT_PATHS[0]),)
    assert all(face.han_only for face in plain.fallbacks)
    pdf = render_conclusion_letter(letter(), plain)
    assert base_fonts(pdf) == {"WenQuanYiZenHei"} and "伤残七级" in text_of(pdf)


def test_noto_without_zen_hei_behind_it_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CJK_FONT", raising=False)
    monkeypatch.setattr(fonts, "DEBIAN_FONT_PATHS", (tmp_path / "none.ttc",))
    with pytest.raises(FontMissing, match="sudo apt-get install fonts-wqy-zenhei"):
        find_letter_fonts()


@pytest.mark.parametrize(
    ("name", "fallback"),
    [("王𪚥", {"HanaMinA"}), ("𠀋𪚥", {"HanaMinA"}), ("吉𠮷", set()), ("赵孟𫖯", set())],
)  # Extensions B and C: Noto has 𠮷, 𫖯 and 𠀋, HanaMin the others
def test_a_rare_name_is_printed_with_the_fallback_fonts(
    letter_fonts: LetterFonts, name: str, fallback: set[str]
) -> None:
    rare = letter(worker_name=name, body_parts=["右手𠮷指"])
    pdf = render_conclusion_letter(rare, letter_fonts)
    text = text_of(pdf)
    assert f"姓名{name}性别男" in text and "受伤部位右手𠮷指" in text
    assert render_conclusion_letter(rare, letter_fonts) == pdf
    assert base_fonts(pdf) == NOTO | fallback


def test_a_letter_prints_what_zen_hei_printed_before(letter_fonts: LetterFonts) -> None:
    # Ł is not in Noto: Zen Hei, the letter's font before, stands behind it.
    pdf = render_conclusion_letter(letter(worker_name="Łukasz王"), letter_fonts)
    assert "Łukasz王" in text_of(pdf)
    assert base_fonts(pdf) == NOTO | {"WenQuanYiZenHei"}


def test_a_common_letter_does_not_load_the_fallback_fonts(
    letter_fonts: LetterFonts, font: LetterFonts
) -> None:
    pdf = render_conclusion_letter(letter(), letter_fonts)
    assert pdf == render_conclusion_letter(letter(), font)
    assert base_fonts(pdf) == NOTO


@pytest.mark.parametrize("character", ["😀", "𰀀", "\ue000"])  # emoji, Extension G, private use
def test_what_no_font_prints_is_refused_even_with_fallbacks(
    letter_fonts: LetterFonts, character: str
) -> None:
    with pytest.raises(GlyphsMissing, match=rf"lack U\+{ord(character):04X}: set CJK_FONT"):
        render_conclusion_letter(letter(worker_name=f"王{character}"), letter_fonts)


def full_line(pdf: bytes, char: str) -> int:
    """How many of `char` fill a line: the longest line made of nothing else."""
    return max(len(line) for line in segments(pdf) if set(line) == {char})


def test_no_line_begins_with_a_closing_mark(font: LetterFonts) -> None:
    # A table cell: a comma falls exactly where the 伤情 cell's first line is full, and a full
    # stop where its second is.
    cell = full_line(render_conclusion_letter(letter(findings="伤" * 80), font), "伤")
    findings = "伤" * cell + "，右膝关节" + "伤" * (cell - 6) + "。约50%"
    # A paragraph: the comma after the basis falls where the 鉴定依据 line is full
    # (依据《劳动能力鉴定管理办法》和 comes first: 20 characters with the label).
    basis = "标" * 80
    full = full_line(render_conclusion_letter(letter(basis=basis, clause=None), font), "标")
    basis = "标" * (full - 20)
    lines = segments(
        render_conclusion_letter(letter(findings=findings, basis=basis, clause=None), font)
    )
    starts = [line for line in lines if line[0] in CLOSING]
    assert not starts, starts
    # The character before the mark went down with it: that line is one short.
    at = lines.index("伤" * (cell - 1))
    assert lines[at + 1 : at + 3] == ["伤，右膝关节" + "伤" * (cell - 7), "伤。约50%"]
    assert "标，经鉴定专家组鉴定，按少数服从多数的原则，作出如下结论。" in lines


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


def test_a_province_pilot_letter_is_issued_in_both_names_and_copies_the_provincial_agency(
    font: LetterFonts,
) -> None:
    pilot = letter(
        case_type=CaseType.illness,
        outcome=Outcome(verdict=Verdict.major_loss),
        basis="劳社部发〔2002〕8号《职工非因工伤残或因病丧失劳动能力鉴定标准（试行）》",
        clause=None,
        with_province=True,
    )
    text = text_of(render_conclusion_letter(pilot, font))
    assert text.startswith("山东省劳动能力鉴定委员会济宁市劳动能力鉴定委员会劳动能力鉴定结论书")
    assert "济宁市劳动能力鉴定委员会受山东省劳动能力鉴定委员会委托就近组织鉴定" in text
    assert "山东省劳动能力鉴定委员会（印章）济宁市劳动能力鉴定委员会（印章）" in text
    assert "抄送省社会保险经办机构" in text
    city = text_of(render_conclusion_letter(letter(), font))
    assert "委托就近组织鉴定" not in city and "抄送社会保险经办机构" in city


def test_an_illness_review_letter_speaks_of_illness(font: LetterFonts) -> None:
    review = letter(
        case_type=CaseType.review,
        cause="illness",
        outcome=Outcome(verdict=Verdict.complete_loss),
        basis="劳社部发〔2002〕8号",
        clause=None,
    )
    text = text_of(render_conclusion_letter(review, font))
    assert "发病日期2026年3月18日" in text and "病情右膝关节" in text
    assert "鉴定结论：完全丧失劳动能力" in text


def test_the_fonts_are_parsed_once_per_process_and_the_letter_is_unchanged(
    font: LetterFonts, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[str] = []
    add_font = FPDF.add_font

    def counted(pdf: FPDF, *args: Any, **kwargs: Any) -> None:
        parsed.append(str(kwargs["fname"]))
        add_font(pdf, *args, **kwargs)

    monkeypatch.setattr(FPDF, "add_font", counted)
    monkeypatch.setattr(documents, "_blanks", {})  # as in a new process
    render_conclusion_letter(letter(), font)
    second = letter(worker_name="李秀英", findings="伤" * 200)  # two pages
    reused = render_conclusion_letter(second, font)
    assert len(parsed) == len(font.main) == 3  # the first letter parsed them, the second not
    # Each letter subsets a font of its own, so the parsed fonts stay whole: a letter after
    # another is what a letter with freshly parsed fonts is.
    assert reused == render_conclusion_letter(second, font, reuse_fonts=False)
    assert len(parsed) == 3 + 3


def test_a_truetype_font_parsed_once_renders_as_freshly_parsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Zen Hei has TrueType outlines (glyf), Noto CFF ones: the subsetter treats them apart.
    monkeypatch.setenv("CJK_FONT", str(DEBIAN_FONT_PATHS[0]))
    zen_hei = find_letter_fonts().without_fallbacks()
    once = [render_conclusion_letter(letter(worker_name=name), zen_hei) for name in "甲乙"]
    assert once[1] == render_conclusion_letter(letter(worker_name="乙"), zen_hei, reuse_fonts=False)
    assert base_fonts(once[0]) == {"WenQuanYiZenHei"}


def test_letters_rendered_at_once_in_threads_are_as_rendered_one_by_one(font: LetterFonts) -> None:
    # What the fonts' copies share must stay unwritten: letters of one, two and three pages
    # number their PDF objects differently.
    letters = [letter(), letter(findings="伤" * 200), letter(findings="伤" * 400)]
    with ThreadPoolExecutor(len(letters)) as threads:
        together = list(threads.map(lambda one: render_conclusion_letter(one, font), letters))
    assert together == [render_conclusion_letter(one, font) for one in letters]
