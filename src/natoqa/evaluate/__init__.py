"""Measuring retrieval on question sets (``natoqa eval``) and fitting abstention."""
