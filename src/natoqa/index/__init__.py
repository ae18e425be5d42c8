"""Stage 3: passages and vectors → versioned, immutable index folders."""
