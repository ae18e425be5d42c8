"""Which language a text is in: German or English, the two natoqa speaks.

py3langid ships its model inside the package (no download) and classifies a
question in well under a millisecond. Restricting it to the supported
languages keeps short questions from drifting to unrelated ones.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

SUPPORTED = ("de", "en")
DEFAULT = "de"

_lock = threading.Lock()


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(list(SUPPORTED))
    return ident


def detect_language(text: str, default: str = DEFAULT) -> str:
    """Return ``"de"`` or ``"en"`` for ``text``; ``default`` when it has no letters."""
    if not any(ch.isalpha() for ch in text):
        return default
    with _lock:  # the identifier keeps per-call scratch state
        lang, _prob = _identifier().classify(text)
    return str(lang) if lang in SUPPORTED else default
