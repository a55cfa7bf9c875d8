#!/usr/bin/env bash
# Install what the voice line needs on a fresh Debian 12 / Ubuntu machine, into .venv.
#   scripts/setup.sh          service packages
#   scripts/setup.sh --test   service and test packages (SIP peers, browser)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(python3 python3-venv python3-dev build-essential portaudio19-dev
          espeak-ng sox libsox-fmt-all)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(baresip sip-tester chromium chromium-driver)
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if (( ${#missing[@]} )); then
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q "${missing[@]}"
fi

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
if [[ "${1:-}" == "--test" ]]; then
  .venv/bin/python -m pip install -q -r requirements-test.txt
else
  .venv/bin/python -m pip install -q -r requirements.txt
fi
