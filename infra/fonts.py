"""The fonts the conclusion letter is set in.

Official documents (公文, GB/T 9704) are set in 方正小标宋 (title), 仿宋_GB2312 (text) and 黑体 /
楷体 (headings). None of these is free; Debian packages the closest free ones:
- the title in **Noto Serif CJK SC Bold** (思源宋体, bold: the heavy Song of 小标宋),
- the text in **Noto Serif CJK SC** (思源宋体: no free simplified 仿宋 is packaged, and Song is
  what 仿宋 stands in for; cwTeX's 仿宋 has traditional characters only),
- the headings and labels in **Noto Sans CJK SC** (思源黑体, a 黑体),
all from `fonts-noto-cjk`, each the Simplified Chinese face of its collection (found by name).
They have Latin letters and digits too (case numbers, IDs, dates, GB/T 16180-2014).

Without them the letter is set as before, all in WenQuanYi Zen Hei (`fonts-wqy-zenhei`).
Behind Noto, Zen Hei is a fallback for any character Noto lacks, so the letter prints at least
everything it printed before (Zen Hei has some Latin and IPA letters Noto has not).
`CJK_FONT` (a path) sets one font for the whole letter instead.

The fallback fonts for the rare ideographs neither has (some real names use CJK Extension B and
later): `CJK_FALLBACK_FONTS` (paths separated by `:`), else Debian's HanaMin A and B
(`fonts-hanazono`). They are used for Han ideographs only: they are Japanese Mincho fonts whose
symbols and emoji have no place on the letter.

`deploy/install-cjk-font.sh` (`make font`) installs the three packages. What the fonts cover is
committed in schemas/printable_table.py (`make glyphs`), so the application refuses what cannot
be printed."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

CJK_FONT_PACKAGE = "fonts-wqy-zenhei"
NOTO_PACKAGE = "fonts-noto-cjk"
FALLBACK_FONT_PACKAGE = "fonts-hanazono"
DEBIAN_FONT_PATHS = (Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),)
NOTO = Path("/usr/share/fonts/opentype/noto")
# (file, family) of the text, the title and the headings, in that order
NOTO_FACES = (
    (NOTO / "NotoSerifCJK-Regular.ttc", "Noto Serif CJK SC"),
    (NOTO / "NotoSerifCJK-Bold.ttc", "Noto Serif CJK SC"),
    (NOTO / "NotoSansCJK-Regular.ttc", "Noto Sans CJK SC"),
)
DEBIAN_FALLBACK_FONTS = (
    Path("/usr/share/fonts/truetype/hanazono/HanaMinA.ttf"),
    Path("/usr/share/fonts/truetype/hanazono/HanaMinB.ttf"),
)
INSTALL_HINT = (
    f"install the letter's fonts with `sudo apt-get install {NOTO_PACKAGE} {CJK_FONT_PACKAGE}` "
    "(or run deploy/install-cjk-font.sh), or set CJK_FONT to a TrueType font with Chinese glyphs"
)
FALLBACK_HINT = (
    f"install them with `sudo apt-get install {FALLBACK_FONT_PACKAGE}` (or run "
    "deploy/install-cjk-font.sh), or set CJK_FALLBACK_FONTS to fonts with the rare ideographs"
)

# Han ideographs: CJK Extension A, the URO, compatibility ideographs, Extensions B-F and the
# compatibility supplement (plane 2), Extensions G-H (plane 3). What a fallback font may draw.
HAN_IDEOGRAPHS = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3FFFF))


class FontMissing(RuntimeError):
    """No usable CJK font; the message says what to install."""


@dataclass(frozen=True)
class Face:
    """One font: a file, and which face of it when it is a collection (.ttc)."""

    path: Path
    number: int = 0
    han_only: bool = False  # a fallback for Han ideographs only


@dataclass(frozen=True)
class LetterFonts:
    text: Face  # what the application's fields are printed in
    title: Face
    heading: Face
    fallbacks: tuple[Face, ...] = ()  # loaded only for a letter the others cannot print

    @property
    def main(self) -> tuple[Face, ...]:
        return tuple(dict.fromkeys((self.text, self.title, self.heading)))

    def without_fallbacks(self) -> LetterFonts:
        return replace(self, fallbacks=())


def collection_face(path: Path, family: str) -> Face:
    """The face of a collection with this family name (Noto's SC is the third of five)."""
    from fontTools.ttLib import TTCollection

    with TTCollection(path, lazy=True) as faces:
        for number, face in enumerate(faces):
            if face["name"].getBestFamilyName() == family:
                return Face(path, number)
    raise FontMissing(f"{path} has no face {family}: reinstall {NOTO_PACKAGE}")


def find_letter_fonts() -> LetterFonts:
    """CJK_FONT for the whole letter; else Noto (Zen Hei behind it); else Zen Hei alone."""
    han = tuple(Face(path, han_only=True) for path in find_fallback_fonts())
    if not os.environ.get("CJK_FONT") and all(path.is_file() for path, _ in NOTO_FACES):
        text, title, heading = (collection_face(path, family) for path, family in NOTO_FACES)
        zen_hei = DEBIAN_FONT_PATHS[0]
        if not zen_hei.is_file():  # what the letter printed before must still print
            raise FontMissing(
                f"no fallback font at {zen_hei} for what Noto lacks: install it with "
                f"`sudo apt-get install {CJK_FONT_PACKAGE}` (or run deploy/install-cjk-font.sh)"
            )
        return LetterFonts(text, title, heading, (*han, Face(zen_hei)))
    one = Face(find_cjk_font())
    return LetterFonts(one, one, one, han)


def is_han(code_point: int) -> bool:
    return any(start <= code_point <= end for start, end in HAN_IDEOGRAPHS)


def find_cjk_font() -> Path:
    configured = os.environ.get("CJK_FONT")
    if configured:
        # A set but wrong path is an operator's mistake: say so rather than pick another font.
        path = Path(configured)
        if not path.is_file():
            raise FontMissing(f"CJK_FONT={configured} is not a file: {INSTALL_HINT}")
        return path
    for path in DEBIAN_FONT_PATHS:
        if path.is_file():
            return path
    raise FontMissing(
        f"no CJK font for the conclusion letter at {', '.join(map(str, DEBIAN_FONT_PATHS))}: "
        + INSTALL_HINT
    )


def find_fallback_fonts() -> tuple[Path, ...]:
    """Every one must be there: the application accepted rare names on their coverage."""
    configured = os.environ.get("CJK_FALLBACK_FONTS")
    paths = tuple(Path(p) for p in configured.split(":") if p) if configured else None
    for path in paths or DEBIAN_FALLBACK_FONTS:
        if not path.is_file():
            where = (
                f"CJK_FALLBACK_FONTS names {path}, which is not a file"
                if paths
                else f"no fallback font for rare characters at {path}"
            )
            raise FontMissing(f"{where}: {FALLBACK_HINT}")
    return paths or DEBIAN_FALLBACK_FONTS


def code_points(font: Face) -> set[int]:
    """What the face maps (a fallback for Han ideographs: its ideographs)."""
    from fontTools.ttLib import TTFont

    with TTFont(font.path, fontNumber=font.number, lazy=True) as parsed:
        mapped = set(parsed.getBestCmap())
    return {c for c in mapped if is_han(c)} if font.han_only else mapped


def font_names(fonts: Iterable[Face]) -> list[str]:
    """Full name and version of each font, to say which fonts a table was made from."""
    from fontTools.ttLib import TTFont

    names = []
    for font in fonts:
        with TTFont(font.path, fontNumber=font.number, lazy=True) as parsed:
            name = parsed["name"]
            names.append(f"{name.getBestFullName()} ({name.getDebugName(5)})")
    return names


def letter_coverage(fonts: LetterFonts) -> set[int]:
    """The code points the letter can print in the application's fields: the text font's, and
    the fallbacks' (of a fallback for ideographs, its ideographs)."""
    covered = code_points(fonts.text)
    for fallback in fonts.fallbacks:
        covered |= code_points(fallback)
    return covered
