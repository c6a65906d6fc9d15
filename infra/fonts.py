"""The fonts the conclusion letter is set in.

The main font: `CJK_FONT` (a path), else Debian's WenQuanYi Zen Hei (`fonts-wqy-zenhei`).
Zen Hei because it has Latin letters and digits too (case numbers, IDs, dates) and fpdf2
embeds it so the text extracts back exactly; Droid Sans Fallback has no digits.

The fallback fonts, for the rare ideographs Zen Hei lacks (some real names use CJK Extension B
and later): `CJK_FALLBACK_FONTS` (paths separated by `:`), else Debian's HanaMin A and B
(`fonts-hanazono`). They are used for Han ideographs only: they are Japanese Mincho fonts whose
symbols and emoji have no place on the letter.

`deploy/install-cjk-font.sh` installs both packages. What the fonts cover is committed in
schemas/printable_table.py (`make glyphs`), so the application refuses what cannot be printed."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

CJK_FONT_PACKAGE = "fonts-wqy-zenhei"
FALLBACK_FONT_PACKAGE = "fonts-hanazono"
DEBIAN_FONT_PATHS = (Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),)
DEBIAN_FALLBACK_FONTS = (
    Path("/usr/share/fonts/truetype/hanazono/HanaMinA.ttf"),
    Path("/usr/share/fonts/truetype/hanazono/HanaMinB.ttf"),
)
INSTALL_HINT = (
    f"install it with `sudo apt-get install {CJK_FONT_PACKAGE}` (or run "
    "deploy/install-cjk-font.sh), or set CJK_FONT to a TrueType font with Chinese glyphs"
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


def code_points(font: Path) -> set[int]:
    """What the font maps (the first face of a collection, as fpdf2 uses it)."""
    from fontTools.ttLib import TTFont  # only the table generator and its test need it

    with TTFont(font, fontNumber=0, lazy=True) as parsed:
        return set(parsed.getBestCmap())


def font_names(fonts: Iterable[Path]) -> list[str]:
    """Full name and version of each font, to say which fonts a table was made from."""
    from fontTools.ttLib import TTFont

    names = []
    for font in fonts:
        with TTFont(font, fontNumber=0, lazy=True) as parsed:
            name = parsed["name"]
            names.append(f"{name.getBestFullName()} ({name.getDebugName(5)})")
    return names


def letter_coverage(font: Path, fallbacks: Sequence[Path]) -> set[int]:
    """The code points the letter can print: the main font's, and the fallbacks' ideographs."""
    covered = code_points(font)
    for fallback in fallbacks:
        covered |= {c for c in code_points(fallback) if is_han(c)}
    return covered
