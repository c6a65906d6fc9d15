#!/bin/sh
# The browser of the Web UI test (tests/integration/test_ui_browser.py): Debian's Chromium,
# driven by Playwright's Python package (PyPI; it downloads no browser of its own here).
# Installs it when missing and we are root on a Debian-like system; otherwise says what to do
# and exits 0 (the test then fails naming the path). CHROMIUM names another binary.
set -u
BROWSER=${CHROMIUM:-/usr/bin/chromium}
[ -x "$BROWSER" ] && exit 0
if [ -n "${CHROMIUM:-}" ]; then
    echo "CHROMIUM=$CHROMIUM is not an executable" >&2
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium for the Web UI test" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 \
             && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; } \
        || echo "could not install chromium: run 'apt-get install chromium' as root" >&2
    exit 0
fi
echo "the Web UI test needs Chromium: run 'sudo apt-get install chromium' (or set CHROMIUM)" >&2
exit 0
