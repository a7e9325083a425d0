"""The web face: the Gradio chat (`ui`) inside the FastAPI shell (`shell`) that guards it.
Imports the application (`assistant.app`), `ingest` and the engine (`assistant.core`)."""
