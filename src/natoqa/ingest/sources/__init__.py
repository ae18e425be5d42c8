"""Sources: one loader per file format, and the scan of a corpus folder.

``load_file`` reads one document and its metadata (sidecar ``NAME.meta.toml``
over front matter over what the file itself declares); ``scan_corpus`` loads
every supported file under a folder and lists the ones it had to skip.
"""

from __future__ import annotations

from natoqa.ingest.sources.corpus import (
    SUPPORTED_SUFFIXES,
    CorpusScan,
    iter_corpus,
    load_file,
    scan_corpus,
)

__all__ = ["SUPPORTED_SUFFIXES", "CorpusScan", "iter_corpus", "load_file", "scan_corpus"]
