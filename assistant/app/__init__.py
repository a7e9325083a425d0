"""What users do with the engine: conversations, the reflection, the journal, data rights, exports
and accounts. Imports the engine (`assistant.core`) and `ingest`, never the web face."""
