"""Stage 6: the question-answering service a server holds: model, current index, cache, metrics."""
