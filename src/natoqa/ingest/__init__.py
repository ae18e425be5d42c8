"""Stage 1: sources → cleaned documents → passages."""
