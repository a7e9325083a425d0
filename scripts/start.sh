#!/usr/bin/env bash
# The main job on embedded defaults: install, index the bundled corpus, start the chat.
set -euo pipefail
cd "$(dirname "$0")/.."
export ANONYMIZED_TELEMETRY=False GRADIO_ANALYTICS_ENABLED=False
bash scripts/setup.sh default
.venv/bin/assistant ingest
if .venv/bin/assistant serve --help >/dev/null 2>&1; then
  exec .venv/bin/assistant serve "$@"
fi
echo
echo "Indeksen er klar. Prøv: .venv/bin/assistant search \"Hvilke kommuner deltok i piloten?\""
