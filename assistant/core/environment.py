"""Environment defaults, set once before third-party libraries load: no telemetry leaves the
machine (Chroma, Gradio) and no model hub is contacted (Hugging Face). Every entry point imports
this module first; importing it applies the defaults to this process. A value already set by the
user is kept."""

from __future__ import annotations

import os
from collections.abc import MutableMapping

DEFAULTS = {
    "ANONYMIZED_TELEMETRY": "False",  # Chroma's product telemetry
    "GRADIO_ANALYTICS_ENABLED": "False",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def apply_defaults(env: MutableMapping[str, str] = os.environ) -> MutableMapping[str, str]:
    """Set each default that `env` does not set already; returns `env` (for a child's environment)."""
    for key, value in DEFAULTS.items():
        env.setdefault(key, value)
    return env


apply_defaults()
