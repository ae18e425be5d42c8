"""Stage 5: ranked passages → an extractive answer with citations."""
