#!/usr/bin/env bash
# Set up everything the tests need and run them. CI runs exactly this (.ci/run).
set -uo pipefail
cd "$(dirname "$0")/.."
export ANONYMIZED_TELEMETRY=False GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
bash scripts/setup.sh dev || { echo "setup failed"; exit 1; }
.venv/bin/python scripts/build_corpus_pdf.py --check || exit 1
.venv/bin/python -m pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here, not a pass."
  exit 1
fi
exit "$status"
