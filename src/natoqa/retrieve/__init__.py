"""Stage 4: a question → ranked passages, with calibrated abstention."""
