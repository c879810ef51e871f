#!/usr/bin/env bash
# The /docs browser test (tests/integration/test_docs_page_in_a_browser.py) drives Debian's chromium through
# chromedriver: install both when missing and apt-get can (as root); else say how, and the test says it too.
set -euo pipefail
[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && exit 0
if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "chromium or chromedriver not found: installing chromium and chromium-driver (apt-get)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/dev/null
else
  echo "chromium not found: the browser test needs 'sudo apt-get install chromium chromium-driver'" >&2
fi
