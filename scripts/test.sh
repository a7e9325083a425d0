#!/usr/bin/env bash
# Set up everything the tests need and run them. CI runs exactly this (.ci/run).
set -uo pipefail
cd "$(dirname "$0")/.."
export ANONYMIZED_TELEMETRY=False GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
bash scripts/setup.sh dev || { echo "setup failed"; exit 1; }
# The browser tests drive Debian's Chromium with Playwright (Playwright cannot download browsers here).
if [ ! -x /usr/bin/chromium ]; then
  echo "==> Installing Chromium for the browser tests"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null \
    || { echo "could not install chromium (apt-get)"; exit 1; }
fi
.venv/bin/python scripts/build_corpus_pdf.py --check || exit 1
.venv/bin/python scripts/build_corpus_pptx.py --check || exit 1
.venv/bin/python -m pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here, not a pass."
  exit 1
fi
exit "$status"
