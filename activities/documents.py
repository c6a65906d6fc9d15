"""The conclusion letter (鉴定结论书): rendered as an A4 PDF in Chinese and stored once in
PostgreSQL with its SHA-256.

Rendering is deterministic (creation date = issue time, file id from the content), so a
retried activity would store the same bytes; it never has to, since a stored letter is
returned as it is and never re-rendered."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import ctypes
import ctypes.util
import hashlib
import logging
import multiprocessing
import os
import re
import signal
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Executor as Renderer
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import date
from typing import TypeVar

import asyncpg
from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.enums import Align, TableBordersLayout, WrapMode, XPos, YPos
from fpdf.fonts import FontFace, TTFFont
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.storage import Executor
from activities.typesetting import Run, break_runs, break_text
from infra.fonts import Face, FontMissing, LetterFonts, find_letter_fonts, is_han
from infra.logs import get_logger
from infra.settings import settings
from schemas.application import CaseType, Cause
from schemas.clock import CHINA_TZ
from schemas.documents import CONCLUSION_LETTER, ConclusionLetter, DocumentRef
from schemas.outcome import INJURY_VERDICTS, Verdict
from schemas.vocabulary import CASE_TYPE_LABELS

log = get_logger(__name__)
T = TypeVar("T")
# Zen Hei carries bitmap strikes fontTools cannot subset; it drops them (outlines suffice)
# and would otherwise warn on every letter.
logging.getLogger("fontTools.subset").setLevel(logging.ERROR)
# fpdf2 logs the characters a font lacks, which may come from a name: GlyphsMissing names
# their code points instead.
logging.getLogger("fpdf.output").setLevel(logging.ERROR)

RULE = "《劳动能力鉴定管理办法》"  # cited by name: article numbers of the 2025 rule are unconfirmed
PDF = "application/pdf"
CLAUSE_NUMBER = re.compile(r"\d+(\.\d+)*")
COLUMNS = (36, 46, 30, 48)  # the table's columns, in proportion (label, value, label, value)
PADDING = 1.5  # mm left and right inside a table cell
SLACK = 0.01  # mm: a line measured to fit is never broken again by fpdf2's own wrapping


def committee_name() -> str:
    return settings().committee_name


def provincial_committee_name() -> str:
    return settings().provincial_committee_name


class GlyphsMissing(ValueError):
    """The font lacks characters the letter needs: they would print as blanks."""


def chinese_date(year: int, month: int, day: int) -> str:
    return f"{year}年{month}月{day}日"


def day_text(day: date | None) -> str:
    return "—" if day is None else chinese_date(day.year, day.month, day.day)


def masked_id(citizen_id: str) -> str:
    """Area code and the last four only (370811********0438): enough to match, no birth date."""
    return f"{citizen_id[:6]}{'*' * 8}{citizen_id[14:]}"


def sex(citizen_id: str) -> str:
    return "男" if int(citizen_id[16]) % 2 else "女"


def birth_date(citizen_id: str) -> str:
    return chinese_date(int(citizen_id[6:10]), int(citizen_id[10:12]), int(citizen_id[12:14]))


def basis_text(letter: ConclusionLetter) -> str:
    """The rule, the standard and the clause applied: a clause that is a number of the
    standard (5.9.2.3) reads 第5.9.2.3条; any other (an illness item) is printed as given."""
    basis = letter.basis if "劳动能力鉴定管理办法" in letter.basis else f"{RULE}和{letter.basis}"
    clause = letter.clause
    if clause is None:
        return basis
    return f"{basis}第{clause}条" if CLAUSE_NUMBER.fullmatch(clause) else f"{basis}{clause}"


def conclusion_text(letter: ConclusionLetter) -> str:
    label = letter.outcome.label()
    graded = letter.outcome.verdict in INJURY_VERDICTS - {Verdict.below_grade}
    return f"伤残{label}" if graded else label


def notice_text(letter: ConclusionLetter) -> str:
    """How to dispute the conclusion. A re-appraisal is decided by the provincial committee,
    whose conclusion is final: a city letter never calls itself final."""
    province = letter.provincial_committee or provincial_committee_name()
    if letter.case_type is CaseType.re_appraisal:
        return f"再次鉴定的结论以{province}作出的为准。"
    return (
        f"如对本鉴定结论不服，可以在收到本结论书之日起{letter.dispute_window_days}日内"
        f"向{province}提出再次鉴定申请。"
    )


def joint_text(city: str, province: str) -> str:
    """就近办: who appraised and who recognizes the conclusion."""
    return f"本结论由{city}受{province}委托就近组织鉴定，经{province}确认，两委员会共同出具。"


class _LetterPdf(FPDF):
    def __init__(self, number: str, fonts: LetterFonts) -> None:
        super().__init__(format="A4")
        self.number = number
        # One family per font file and face: the roles share one when they share the font.
        family = {face: f"f{n}" for n, face in enumerate(dict.fromkeys(fonts.main))}
        for face, name in family.items():
            self.add_face(name, face)
        self.text_font, self.title_font, self.heading_font = (
            family[fonts.text],
            family[fonts.title],
            family[fonts.heading],
        )
        self.fallbacks = [f"fallback{n}" for n in range(len(fonts.fallbacks))]
        self.han_only = set()
        for name, face in zip(self.fallbacks, fonts.fallbacks, strict=True):
            self.add_face(name, face)
            if face.han_only:
                self.han_only.add(name)
        if self.fallbacks:
            self.set_fallback_fonts(self.fallbacks)
        self.widths: dict[tuple[str, float, str], float] = {}

    def add_face(self, name: str, face: Face) -> None:
        self.add_font(name, fname=face.path, collection_font_number=face.number)
        font = self.fonts[name]
        assert isinstance(font, TTFFont)
        # The subset keeps the font's own bounding box: recomputing it from every CFF outline
        # took a sixth of the render, for a value no viewer needs.
        font.ttfont.recalcBBoxes = False

    def get_fallback_font(self, char: str, style: str = "") -> str | None:
        # HanaMin is for rare ideographs (names); a symbol or an emoji no other font has is
        # refused, not drawn from a Japanese Mincho font.
        han = is_han(ord(char))
        for name in self.fallbacks:
            font = self.fonts[name]
            assert isinstance(font, TTFFont)
            if (han or name not in self.han_only) and ord(char) in font.cmap:
                return name
        return None

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font(self.text_font, size=9)
        self.cell(0, 6, f"编号：{self.number}    第{self.page_no()}页 共{{nb}}页", align=Align.C)

    def measure(self, size: float) -> Callable[[str, str], float]:
        """The width of a piece of text in a font at this size (remembered per character)."""

        def width(family: str, text: str) -> float:
            total = 0.0
            for char in text:
                key = (family, size, char)
                if key not in self.widths:
                    self.set_font(family, size=size)
                    self.widths[key] = self.get_string_width(char)
                total += self.widths[key]
            return total

        return width

    def paragraph(
        self, runs: list[Run], size: float = 12, height: float = 8, align: Align = Align.L
    ) -> None:
        """Text over the full width, broken by the Chinese rules (activities/typesetting.py)."""
        measure = self.measure(size)
        for line in break_runs(runs, self.epw - SLACK, measure):
            used = sum(measure(family, text) for family, text in line)
            offset = {Align.C: (self.epw - used) / 2, Align.R: self.epw - used}.get(align, 0)
            self.set_x(self.l_margin + offset)
            for family, text in line:
                self.set_font(family, size=size)
                self.cell(measure(family, text), height, text, new_x=XPos.RIGHT, new_y=YPos.TOP)
            self.ln(height)

    def lines(self, text: str, family: str, size: float, width: float) -> str:
        """A table cell's text with its line breaks set by the Chinese rules."""
        measure = self.measure(size)
        return "\n".join(break_text(text, width - SLACK, lambda piece: measure(family, piece)))


# Tables a letter's own copy of a font shares with the parsed one: costly to read (tens of
# thousands of glyphs), and fontTools' subsetter replaces their contents instead of editing
# them, so a shallow copy keeps the parsed font whole (a test renders twice and compares).
SHARED_TABLES = ("cmap", "hmtx", "vmtx")
_blanks: dict[LetterFonts, _LetterPdf] = {}
_blanks_lock = threading.Lock()


def _blank(fonts: LetterFonts) -> _LetterPdf:
    """A letter with no page yet and the fonts added: each font parsed once per process."""
    with _blanks_lock:
        blank = _blanks.get(fonts)
        if blank is None:
            blank = _blanks[fonts] = _LetterPdf("", fonts)
            for font in blank.fonts.values():
                assert isinstance(font, TTFFont)
                for tag in SHARED_TABLES:
                    if tag in font.ttfont:
                        table = font.ttfont[tag]  # read now: letters only read it
                        if tag == "cmap":
                            table.ensureDecompiled()
        return blank


def _own_font(parsed: TTFont, font: TTFFont) -> TTFont:
    """A font of the letter's own to subset (fpdf2's output subsets the font it is given, in
    place): opened lazily, as fpdf2 opens it, with the parsed font's costly tables."""
    own = TTFont(
        font.ttffile, recalcTimestamp=False, fontNumber=font.collection_font_number, lazy=True
    )
    own.recalcBBoxes = False  # as in _LetterPdf.add_face
    for tag in SHARED_TABLES:
        if tag in parsed:
            table = copy.copy(parsed[tag])
            if tag == "cmap":
                table.tables = [copy.copy(subtable) for subtable in table.tables]
            own[tag] = table
    return own


def _letter_pdf(number: str, fonts: LetterFonts, reuse_fonts: bool) -> _LetterPdf:
    if not reuse_fonts:
        return _LetterPdf(number, fonts)
    blank = _blank(fonts)
    # fpdf2's TTFFont.__deepcopy__ shares the parsed font (cmap, widths, glyph ids) between
    # copies: what FPDFRecorder relies on.
    pdf = copy.deepcopy(blank)
    pdf.number = number
    for name, font in pdf.fonts.items():
        parsed = blank.fonts[name]
        assert isinstance(font, TTFFont) and isinstance(parsed, TTFFont)
        font.ttfont = _own_font(parsed.ttfont, font)
        # Output numbers the descriptor and points it at this letter's subset: letters
        # rendered at once in threads of one process must not share it.
        font.desc = copy.copy(parsed.desc)
    return pdf


def render_conclusion_letter(
    letter: ConclusionLetter, fonts: LetterFonts, *, reuse_fonts: bool = True
) -> bytes:
    """The letter as PDF bytes; the same letter and fonts give the same bytes, whether the
    fonts are parsed for this letter (`reuse_fonts=False`) or were parsed once in this process.

    The fallback fonts are large (HanaMin: 50 MB, about a second to parse): only a letter with
    a character the main fonts lack is rendered again with them."""
    content, missing = _render(letter, fonts.without_fallbacks(), reuse_fonts)
    if fonts.fallbacks and missing:
        content, missing = _render(letter, fonts, reuse_fonts)
    if missing:
        # Code points only: the characters may come from a name.
        points = ", ".join(f"U+{c:04X}" for c in sorted(set(missing)))
        paths = dict.fromkeys(str(face.path) for face in (*fonts.main, *fonts.fallbacks))
        raise GlyphsMissing(
            f"the letter's fonts ({', '.join(paths)}) lack {points}: "
            "set CJK_FONT or CJK_FALLBACK_FONTS to fonts that have them"
        )
    return content


def _render(
    letter: ConclusionLetter, fonts: LetterFonts, reuse_fonts: bool
) -> tuple[bytes, list[int]]:
    """The PDF, and the code points no font could draw."""
    committee = letter.committee or committee_name()
    issued = letter.issued_at.astimezone(CHINA_TZ).date()
    illness = letter.cause is Cause.illness or letter.case_type is CaseType.illness
    injury = not illness
    province = letter.provincial_committee or provincial_committee_name()
    issuers = [province, committee] if letter.with_province else [committee]
    pdf = _letter_pdf(letter.case_id, fonts, reuse_fonts)
    pdf.set_creation_date(letter.issued_at)
    pdf.set_title(f"劳动能力鉴定结论书 {letter.case_id}")  # no personal data in metadata
    pdf.set_author(committee)
    pdf.set_margins(25, 25, 25)
    pdf.set_auto_page_break(True, margin=22)
    pdf.c_margin = 0  # lines are measured to the margins; table cells have their padding
    pdf.add_page()
    text, title, heading = pdf.text_font, pdf.title_font, pdf.heading_font

    for issuer in issuers:
        pdf.paragraph([(title, issuer)], size=18, height=11, align=Align.C)
    pdf.paragraph([(title, "劳动能力鉴定结论书")], size=22, height=13, align=Align.C)
    pdf.paragraph([(text, f"编号：{letter.case_id}")], size=11, align=Align.R)
    pdf.paragraph([(heading, "鉴定类别："), (text, CASE_TYPE_LABELS[letter.case_type])], size=11)
    pdf.ln(2)

    cid = letter.citizen_id
    rows: list[tuple[str, ...]] = [
        ("姓名", letter.worker_name, "性别", sex(cid)),
        ("出生日期", birth_date(cid), "公民身份号码", masked_id(cid)),
        ("用人单位", letter.employer_name),
        ("统一社会信用代码", letter.credit_code),
        *(
            [("受理日期", day_text(letter.accepted_on), "鉴定日期", day_text(letter.appraised_on))]
            if letter.accepted_on or letter.appraised_on
            else []
        ),
        (
            "受伤日期" if injury else "发病日期",
            chinese_date(letter.injury_date.year, letter.injury_date.month, letter.injury_date.day),
            "受伤部位" if injury else "患病部位",
            "、".join(letter.body_parts) or "—",
        ),
        ("诊断", letter.diagnosis),
        # The panel's findings; a letter decided before they were recorded shows the account.
        ("伤情" if injury else "病情", letter.findings or letter.description),
    ]
    size = 11
    widths = [pdf.epw * w / sum(COLUMNS) for w in COLUMNS]
    faces = {family: FontFace(family=family, size_pt=size) for family in (heading, text)}
    pdf.set_font(text, size=size)
    with pdf.table(
        col_widths=COLUMNS,
        first_row_as_headings=False,
        line_height=7,
        text_align=Align.L,
        wrapmode=WrapMode.CHAR,
        borders_layout=TableBordersLayout.ALL,
        padding=(0, PADDING),
    ) as table:
        for cells in rows:
            row = table.row()
            spans = [1, 1, 1, 1] if len(cells) == 4 else [1, 3]
            column = 0
            for n, (value, span) in enumerate(zip(cells, spans, strict=True)):
                family = text if n % 2 else heading
                width = sum(widths[column : column + span]) - 2 * PADDING
                column += span
                broken = pdf.lines(value, family, size, width)
                row.cell(broken, colspan=span, style=faces[family])
    pdf.ln(4)

    pdf.paragraph(
        [
            (heading, "鉴定依据："),
            (
                text,
                f"依据{basis_text(letter)}，经鉴定专家组鉴定，按少数服从多数的原则，作出如下结论。",
            ),
        ]
    )
    pdf.paragraph([(heading, "鉴定结论："), (text, conclusion_text(letter))], size=14, height=10)
    pdf.paragraph([(heading, "鉴定专家组："), (text, "；".join(letter.panel) or "—")])
    pdf.paragraph([(heading, "审核："), (text, "；".join(letter.reviews) or "—")], size=11)
    pdf.ln(6)
    if letter.with_province:
        pdf.paragraph([(text, joint_text(committee, province))], size=11)
    for issuer in issuers:
        pdf.paragraph([(text, f"{issuer}（印章）")], align=Align.R)
    pdf.paragraph([(text, chinese_date(issued.year, issued.month, issued.day))], align=Align.R)
    pdf.ln(6)
    pdf.paragraph([(text, notice_text(letter))], size=11)
    agency = "省社会保险经办机构" if letter.with_province else "社会保险经办机构"
    pdf.paragraph([(text, f"本结论书送达职工本人及用人单位，抄送{agency}。")], size=11)

    content = bytes(pdf.output())
    # A character no fallback font has stays with its font, which records it as missing.
    missing = []
    for family in dict.fromkeys((text, title, heading)):
        embedded = pdf.fonts[family]
        assert isinstance(embedded, TTFFont)
        missing += embedded.missing_glyphs
    return content, missing


def _ref(row: asyncpg.Record) -> DocumentRef:
    return DocumentRef(
        document_id=row["document_id"],
        case_id=row["case_id"],
        kind=row["kind"],
        sha256=row["sha256"],
        size=row["size"],
        created_at=row["created_at"],
    )


REF_COLUMNS = "document_id, case_id, kind, sha256, size, created_at"


async def fetch_document(conn: Executor, document_id: str) -> tuple[DocumentRef, bytes] | None:
    row = await conn.fetchrow(
        f"SELECT {REF_COLUMNS}, content FROM documents WHERE document_id = $1", document_id
    )
    return None if row is None else (_ref(row), bytes(row["content"]))


async def list_documents(conn: Executor, case_id: str) -> list[DocumentRef]:
    rows = await conn.fetch(
        f"SELECT {REF_COLUMNS} FROM documents WHERE case_id = $1 ORDER BY created_at, document_id",
        case_id,
    )
    return [_ref(r) for r in rows]


def die_with_parent(parent: int) -> None:
    """A letter process ends when its worker does, however it ends: a worker killed with
    SIGKILL (out of memory, a crash) would otherwise leave its letter processes running, each
    with the fonts it parsed, and holding the worker's output open. Linux's PR_SET_PDEATHSIG."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the worker died before this line: go now
        os._exit(1)


PR_SET_PDEATHSIG = 1


def warm_letter_fonts(fonts: LetterFonts | None = None, parent: int | None = None) -> None:
    """A letter process's initializer: tied to its worker (`parent`), and the main fonts parsed
    now, not for the first letter."""
    if parent is not None:
        die_with_parent(parent)
    # Missing: each letter says so, retryable, until the font is installed.
    with contextlib.suppress(FontMissing):
        _blank((fonts or find_letter_fonts()).without_fallbacks())


class LetterProcesses(Renderer):
    """Processes that render letters, each with the fonts parsed once: a render holds their
    interpreter, never the worker's, whose workflow tasks go on meanwhile. Spawned, not forked:
    the worker has threads (Temporal's core) a fork would copy in whatever state they are.
    When one dies (killed, out of memory) its letter fails, retryably, and the next letter
    gets fresh processes: a broken pool would refuse every letter after."""

    def __init__(self, processes: int, fonts: LetterFonts | None = None) -> None:
        self.processes, self.fonts = processes, fonts
        self.lock = threading.Lock()
        self.pool = self.start()

    def start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=warm_letter_fonts,
            initargs=(self.fonts, os.getpid()),
        )

    def submit(self, fn: Callable[..., T], /, *args: object, **kwargs: object) -> Future[T]:
        with self.lock:
            try:
                return self.pool.submit(fn, *args, **kwargs)
            except BrokenProcessPool:
                log.warning("a letter process died: starting new ones")
                self.pool.shutdown(wait=False)
                self.pool = self.start()
                return self.pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.pool.shutdown(wait, cancel_futures=cancel_futures)


class Documents:
    def __init__(
        self,
        pool: asyncpg.Pool,
        fonts: LetterFonts | None = None,
        renderer: Renderer | None = None,
    ) -> None:
        self.pool = pool
        self.fonts = fonts  # None: looked up on each render, so an installed font is picked up
        # Where letters render: LetterProcesses in a worker; None: a thread of this process.
        self.renderer = renderer

    @activity.defn(name="issue_conclusion_letter")
    async def issue_conclusion_letter(self, letter: ConclusionLetter) -> DocumentRef:
        document_id = letter.document_id
        bound = log.bind(case_id=letter.case_id, stage=letter.stage, document_id=document_id)
        async with self.pool.acquire() as conn:
            stored = await conn.fetchrow(
                f"SELECT {REF_COLUMNS} FROM documents WHERE document_id = $1", document_id
            )
        if stored is not None:  # issued on an earlier attempt: never re-rendered
            ref = _ref(stored)
            bound.info("conclusion letter already stored", sha256=ref.sha256, size=ref.size)
            return ref

        # The names go into the letter, so a later retry renders what this one did.
        letter = letter.model_copy(
            update={
                "committee": letter.committee or committee_name(),
                "provincial_committee": letter.provincial_committee or provincial_committee_name(),
            }
        )
        try:
            fonts = self.fonts or find_letter_fonts()
            # CPU-bound (font subsetting): off the event loop.
            content = await asyncio.get_running_loop().run_in_executor(
                self.renderer, render_conclusion_letter, letter, fonts
            )
        except FontMissing as missing:
            # Retryable: an operator installs the font and the case goes on, nothing lost.
            raise ApplicationError(str(missing), type="FontMissing") from missing
        except GlyphsMissing as missing:
            raise ApplicationError(str(missing), type="GlyphsMissing") from missing
        digest = hashlib.sha256(content).hexdigest()

        async with self.pool.acquire() as conn, conn.transaction():
            try:
                row = await conn.fetchrow(
                    f"""INSERT INTO documents (document_id, case_id, kind, media_type, content,
                                               sha256, size)
                        VALUES ($1, $2, $3, $4, $5, $6, $7)
                        ON CONFLICT (document_id) DO NOTHING RETURNING {REF_COLUMNS}""",
                    document_id,
                    letter.case_id,
                    CONCLUSION_LETTER,
                    PDF,
                    content,
                    digest,
                    len(content),
                )
            except asyncpg.ForeignKeyViolationError:
                raise ApplicationError(
                    f"case {letter.case_id} is not registered",
                    type="CaseUnknown",
                    non_retryable=True,
                ) from None
            if row is None:  # a concurrent attempt stored it first: theirs stands
                row = await conn.fetchrow(
                    f"SELECT {REF_COLUMNS} FROM documents WHERE document_id = $1", document_id
                )
                assert row is not None
                return _ref(row)
            await conn.execute(
                "UPDATE cases SET conclusion_document = $2, updated_at = now() WHERE case_id = $1",
                letter.case_id,
                document_id,
            )
        ref = _ref(row)
        bound.info("conclusion letter stored", sha256=ref.sha256, size=ref.size)
        return ref
