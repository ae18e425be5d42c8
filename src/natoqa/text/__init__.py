"""Text rules every stage shares: language, sentences, acronyms."""
