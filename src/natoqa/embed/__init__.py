"""Stage 2: texts → vectors and latent terms, with the packaged model or any other."""
