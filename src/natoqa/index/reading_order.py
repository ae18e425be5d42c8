"""A version's passages by id and in each document's reading order ("show more context").

Shared by both stores' versions (:class:`natoqa.index.store.IndexVersion`,
:class:`natoqa.index.postgres_reader.PostgresVersion`): built from the passages' columns,
so no passage text is read until one is shown.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from natoqa.errors import NotFound
from natoqa.index.segments import PassageRows
from natoqa.models import Passage


class ReadingOrder:
    """Row of a passage id, rows of a document in reading order, a passage's neighbours."""

    passages: PassageRows

    def _order(self, ids: Sequence[str], doc_ids: Sequence[str],
               ordinals: npt.NDArray[np.int64], kinds: npt.NDArray[np.str_]) -> None:
        """Index the rows (``ids[i]``, ``doc_ids[i]``, ``ordinals[i]``, ``kinds[i]`` describe
        row ``i``)."""
        self._kinds = kinds
        self._row_by_id = {passage_id: i for i, passage_id in enumerate(ids)}
        self._rows_by_doc: dict[str, list[int]] = {}
        for i, doc_id in enumerate(doc_ids):
            self._rows_by_doc.setdefault(doc_id, []).append(i)
        for rows in self._rows_by_doc.values():
            rows.sort(key=lambda r: int(ordinals[r]))

    def row(self, passage_id: str) -> int:
        try:
            return self._row_by_id[passage_id]
        except KeyError:
            raise NotFound(f"no passage with id {passage_id!r}") from None

    def passage(self, passage_id: str) -> Passage:
        return self.passages[self.row(passage_id)]

    def document_rows(self, doc_id: str) -> list[int]:
        """Rows of a document's passages in reading order (body, then footnotes)."""
        return self._rows_by_doc.get(doc_id, [])

    def neighbours(self, passage_id: str, window: int = 1) -> tuple[list[Passage], list[Passage]]:
        """The passages just before and after one, of the same kind, in reading order."""
        target = self.passage(passage_id)
        rows = [r for r in self.document_rows(target.doc_id)
                if self._kinds[r] == target.kind]
        pos = rows.index(self.row(passage_id))
        before = [self.passages[r] for r in rows[max(0, pos - window) : pos]]
        after = [self.passages[r] for r in rows[pos + 1 : pos + 1 + window]]
        return before, after
