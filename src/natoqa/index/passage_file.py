"""A build's passages written to a file as its documents are split, read back once.

A build learns the corpus's size, language and words only once it has split every
document, before it writes its first segment. Held in memory until then, the parsed
documents and their passages took 440 MB at 100,000 passages (4.4 GB at a million);
written as each document is split and read back a segment at a time, they take what
one segment's passages take (natoqa.index.builder).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from natoqa.index.segments import passage_from_json, passage_to_json
from natoqa.models import Passage


class PassageFile:
    """Passages appended as a build splits its documents, then read back in order, a line
    at a time (``passages.jsonl``'s format). A file of a build that stopped is overwritten
    by the next one."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.count = 0
        self._file: IO[str] | None = path.open("w", encoding="utf-8")

    def add(self, passages: Iterable[Passage]) -> None:
        if self._file is None:
            raise ValueError(f"{self.path} is closed for writing")
        for passage in passages:
            self._file.write(passage_to_json(passage) + "\n")
            self.count += 1

    def read(self) -> Iterator[Passage]:
        """Every passage added, in order (no more can be added after)."""
        self.close()
        with self.path.open(encoding="utf-8") as lines:
            for line in lines:
                yield passage_from_json(line)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)
