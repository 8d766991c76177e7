# Sourced by test.sh: a headless browser for the tests that look at the HTML report as a person would.
# Sets LEDGER_TEST_BROWSER to Chromium's path; as root, installs Debian's chromium package when it is missing.
find_browser() { command -v chromium || command -v chromium-browser || command -v google-chrome || true; }
LEDGER_TEST_BROWSER="$(find_browser)"
if [ -z "$LEDGER_TEST_BROWSER" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Chromium (Debian package chromium) for the report tests..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    LEDGER_TEST_BROWSER="$(find_browser)"
fi
export LEDGER_TEST_BROWSER
