#!/bin/sh
# The CJK font of the conclusion letter (Debian package fonts-wqy-zenhei, see infra/fonts.py).
# Installs it when it is missing and we are root on a Debian-like system; otherwise says what
# to do and exits 0, so `make test` goes on and the render test explains. `--require` (the
# Dockerfile) exits 1 instead when the font is still missing.
set -u

PACKAGE=fonts-wqy-zenhei
FONT=/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc
REQUIRE=${1:-}

missing() {
    echo "$1" >&2
    [ "$REQUIRE" = "--require" ] && exit 1
    exit 0
}

if [ -n "${CJK_FONT:-}" ]; then  # an explicit font wins (infra/fonts.py): never install then
    [ -f "$CJK_FONT" ] && exit 0
    missing "CJK_FONT=$CJK_FONT is not a file: fix it, or unset it and install $PACKAGE"
fi
[ -f "$FONT" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing $PACKAGE (the CJK font of the conclusion letter)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$PACKAGE"; } >/dev/null 2>&1 \
        || echo "apt-get could not install $PACKAGE" >&2
    [ -f "$FONT" ] && exit 0
fi
missing "the conclusion letter needs a CJK font: run \`sudo apt-get install $PACKAGE\` or set CJK_FONT to a TrueType font with Chinese glyphs"
