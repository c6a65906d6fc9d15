"""The CJK font the conclusion letter is set in: `CJK_FONT` (a path), else Debian's WenQuanYi
Zen Hei (`fonts-wqy-zenhei`; `deploy/install-cjk-font.sh` installs it).

Zen Hei because it has Latin letters and digits too (case numbers, IDs, dates) and fpdf2
embeds it so the text extracts back exactly; Droid Sans Fallback has no digits."""

from __future__ import annotations

import os
from pathlib import Path

CJK_FONT_PACKAGE = "fonts-wqy-zenhei"
DEBIAN_FONT_PATHS = (Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),)
INSTALL_HINT = (
    f"install it with `sudo apt-get install {CJK_FONT_PACKAGE}` (or run "
    "deploy/install-cjk-font.sh), or set CJK_FONT to a TrueType font with Chinese glyphs"
)


class FontMissing(RuntimeError):
    """No usable CJK font; the message says what to install."""


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
