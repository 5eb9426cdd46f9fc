#!/usr/bin/env bash
# Debian's chromium, the browser of the console tests (tests/web/test_console*.py drive it
# headless through Playwright with executable_path=/usr/bin/chromium; Playwright's own
# browser downloads are never used: the CI network is closed).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
test -x /usr/bin/chromium
