"""The engine: records, settings, text, the embedder, the index (store, BM25, retrieval), sentence
selection, verification and the answer engine. Imports nothing else of the project."""
