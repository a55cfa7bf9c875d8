#!/usr/bin/env bash
# Install what is needed, then start the staff web page and the SIP line on their defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python app.py serve "$@"
