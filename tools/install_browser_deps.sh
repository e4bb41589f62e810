#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (tests/browser) unless it is already there.
# Idempotent; .ci/run calls it before `make test`. Never `playwright install`: no browser downloads.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  sudo=sudo
fi
$sudo apt-get update
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
