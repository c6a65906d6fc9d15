#!/bin/sh
# The fonts of the conclusion letter (see infra/fonts.py): Noto Serif CJK SC (regular and bold)
# and Noto Sans CJK SC (Debian package fonts-noto-cjk), the closest free faces to the 小标宋,
# 仿宋 and 黑体 of official documents; WenQuanYi Zen Hei (fonts-wqy-zenhei), the letter's font
# before them and now what stands behind them; and, for the rare ideographs of some names that
# they lack (CJK Extension B and later), HanaMin A and B (fonts-hanazono).
# Installs what is missing when we are root on a Debian-like system; otherwise says what to do
# and exits 0, so `make test` goes on and the render tests explain. `--require` (the Dockerfile)
# exits 1 instead when a font is still missing. A font set by CJK_FONT or CJK_FALLBACK_FONTS
# (paths separated by `:`) wins and is never installed over.
set -u

FONT=/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc
NOTO_FONTS="/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc /usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
FALLBACK_FONTS="/usr/share/fonts/truetype/hanazono/HanaMinA.ttf /usr/share/fonts/truetype/hanazono/HanaMinB.ttf"
REQUIRE=${1:-}

missing() {
    echo "$1" >&2
    [ "$REQUIRE" = "--require" ] && exit 1
    exit 0
}

# An explicit setting naming no file is the operator's to fix: never installed around.
wrong_setting() {
    if [ -n "${CJK_FONT:-}" ] && [ ! -f "$CJK_FONT" ]; then
        echo "CJK_FONT=$CJK_FONT is not a file"
        return
    fi
    old_ifs=$IFS
    IFS=:
    for font in ${CJK_FALLBACK_FONTS:-}; do
        [ -f "$font" ] || { echo "CJK_FALLBACK_FONTS names $font, which is not a file"; break; }
    done
    IFS=$old_ifs
}

# The Debian packages whose fonts are used (no setting) and absent.
needed_packages() {
    packages=""
    if [ -z "${CJK_FONT:-}" ]; then
        for font in $NOTO_FONTS; do
            [ -f "$font" ] || { packages="fonts-noto-cjk"; break; }
        done
        [ -f "$FONT" ] || packages="$packages fonts-wqy-zenhei"
    fi
    if [ -z "${CJK_FALLBACK_FONTS:-}" ]; then
        for font in $FALLBACK_FONTS; do
            [ -f "$font" ] || { packages="$packages fonts-hanazono"; break; }
        done
    fi
    echo $packages
}

problem=$(wrong_setting)
[ -n "$problem" ] && missing "$problem: fix it, or unset it and install fonts-noto-cjk, fonts-wqy-zenhei and fonts-hanazono"
packages=$(needed_packages)
[ -z "$packages" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing $packages (the fonts of the conclusion letter)"
    # shellcheck disable=SC2086  # one word per package
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends $packages; } >/dev/null 2>&1 \
        || echo "apt-get could not install $packages" >&2
    packages=$(needed_packages)
    [ -z "$packages" ] && exit 0
fi
missing "the conclusion letter needs its fonts: run \`sudo apt-get install $packages\`, or set CJK_FONT (one TrueType font with Chinese glyphs for the whole letter) and CJK_FALLBACK_FONTS (fonts with CJK Extension B)"
