"""The web face: the Gradio chat (`ui`) inside the FastAPI shell (`shell`) that guards it.
Imports the application (`assistant.app`), `ingest` and the engine (`assistant.core`).

Before any of its modules imports Gradio, Gradio's per-start rewrite of its own type stubs is
switched off (`gradio_import`; about half of `import gradio`)."""

from assistant.web import gradio_import

gradio_import.install()
