"""Real German prose for bench/scale_corpus.py's distractors: texts that Debian packages
install (:data:`PACKAGES`: ``apt-get install -y --no-install-recommends fortunes-de
gimp-help-de libreoffice-help-de manpages-de developers-reference-de debian-faq-de
debian-reference-de debian-edu-doc-de``).

The generated distractors are about 600 sentences of XQuAD's source articles, each copied
a hundred times and more with other nouns swapped in: near-duplicates that no archive
holds, and a question's rare word is swapped into some copy of nearly every sentence.
These texts are the other extreme: distinct, coherent German written by people, on other
subjects (software manuals, jokes, quotations, recipes); there is enough of it for
about 10,000 passages. A corpus made with them says
what distinct text costs retrieval; neither kind is an archive of policy writing.

Each source text becomes one document whose paragraphs are runs of its own sentences, in
order, of 105-190 words (one passage each, like the generated ones). Pure logic but for
``groff``, which renders the manual pages; no model.
"""

from __future__ import annotations

import gzip
import html
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from natoqa.text.sentences import sentence_spans

FORTUNES = Path("/usr/share/games/fortunes/de")
MANUALS = Path("/usr/share/man/de")
#: HTML manuals, by source: (folder, pattern) of their pages
HTML = {"gimp": [(Path("/usr/share/gimp/2.0/help/de"), "*.html")],
        "libreoffice": [(Path("/usr/share/libreoffice/help/de/text"), "**/*.html")],
        "debian": [(Path("/usr/share/developers-reference/de"), "*.html"),
                   (Path("/usr/share/doc/debian/FAQ/de"), "*.de.html"),
                   (Path("/usr/share/debian-reference"), "*.de.html"),
                   # one release's manual: the others' are mostly the same text
                   (Path("/usr/share/doc/debian-edu-doc-de"), "*bookworm-manual.html")]}
#: the packages that install them
PACKAGES = ("fortunes-de", "gimp-help-de", "libreoffice-help-de", "manpages-de",
            "developers-reference-de", "debian-faq-de", "debian-reference-de",
            "debian-edu-doc-de")
#: what each source is, for the documents' metadata
PUBLISHERS = {"fortunes": "Debian fortunes-de (freie Lizenzen)",
              "gimp": "GIMP-Dokumentation (GFDL), Debian gimp-help-de",
              "libreoffice": "LibreOffice-Hilfe (MPL-2.0), Debian libreoffice-help-de",
              "debian": "Debian-Dokumentation (GPL, DFSG-frei)",
              "man": "Deutsche Handbuchseiten (GPL), Debian manpages-de"}


@dataclass(frozen=True)
class Text:
    """One source text: where it comes from, a title, and its blocks of prose."""

    source: str  # a key of PUBLISHERS
    name: str  # the file it is read from, which no other text of its source has
    title: str
    blocks: tuple[str, ...]


def fortunes(folder: Path = FORTUNES) -> Iterator[Text]:
    """Each fortune file (``%`` between entries) as one text, an entry a block."""
    if not folder.is_dir():
        return
    for path in sorted(folder.iterdir()):
        if path.suffix or not path.is_file():  # .dat indexes, .u8 copies
            continue
        entries = re.split(r"^%\s*$", path.read_text(encoding="utf-8", errors="replace"),
                           flags=re.M)
        yield Text("fortunes", path.name, f"Sprüche und Texte: {path.name}", tuple(entries))


class _Paragraphs(HTMLParser):
    """The text of an HTML page's ``<p>`` elements, and its ``<title>``."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.paragraphs: list[str] = []
        self._open: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("p", "title") and self._open is None:
            self._open, self._text = tag, []

    def handle_endtag(self, tag: str) -> None:
        if tag == self._open:
            text = " ".join("".join(self._text).split())
            if tag == "title":
                self.title = text
            elif text:
                self.paragraphs.append(text)
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)


def html_pages(source: str, places: Iterable[tuple[Path, str]]) -> Iterator[Text]:
    """Each page of the HTML manuals at ``places`` as one text, a ``<p>`` a block."""
    for folder, pattern in places:
        for path in sorted(folder.glob(pattern)) if folder.is_dir() else []:
            parser = _Paragraphs()
            parser.feed(path.read_text(encoding="utf-8", errors="replace"))
            yield Text(source, str(path), html.unescape(parser.title) or path.stem,
                       tuple(parser.paragraphs))


def manuals(folder: Path = MANUALS) -> Iterator[Text]:
    """Each German manual page, rendered by ``groff``, as one text; a block is a run of
    lines between blank ones."""
    groff = shutil.which("groff")
    if not folder.is_dir() or groff is None:
        return
    for path in sorted(folder.rglob("*.gz")):
        try:
            source = gzip.decompress(path.read_bytes())
        except (OSError, EOFError):
            continue
        rendered = subprocess.run(
            [groff, "-k", "-Kutf8", "-Tutf8", "-man", "-P-cbou", "-rLL=2000n"],
            input=source, capture_output=True, timeout=60, check=False)
        text = rendered.stdout.decode("utf-8", errors="replace")
        blocks = tuple(" ".join(b.split()) for b in re.split(r"\n\s*\n", text))
        yield Text("man", str(path), f"Handbuchseite {path.name.removesuffix('.gz')}", blocks)


def texts() -> Iterator[Text]:
    """Every source text installed, in a fixed order."""
    yield from fortunes()
    for source, places in HTML.items():
        yield from html_pages(source, places)
    yield from manuals()


def sentences(blocks: Iterable[str], excluded: Iterable[str] = ()) -> list[str]:
    """The blocks' sentences of 6-45 words that begin with a capital and end like a
    sentence, in order, without any of the ``excluded`` quotes, each once."""
    quotes = [" ".join(q.split()) for q in excluded]
    out: dict[str, None] = {}
    for block in blocks:
        block = " ".join(block.split())
        for a, b in sentence_spans(block):
            s = block[a:b].strip()
            if (6 <= len(s.split()) <= 45 and s[-1] in ".!?" and s[0].isupper()
                    and not any(q in s for q in quotes)):
                out.setdefault(s, None)
    return list(out)


def paragraphs(sentences: list[str], words: tuple[int, int]) -> list[str]:
    """Consecutive sentences packed into paragraphs of ``words`` (low, high) words; what
    is left over at the end, or a sentence that would not fit, is dropped."""
    low, high = words
    out: list[str] = []
    current: list[str] = []
    count = 0
    for s in sentences:
        n = len(s.split())
        if count + n > high:
            if count >= low:
                out.append(" ".join(current))
            current, count = [], 0
            if n > high:
                continue
        current.append(s)
        count += n
    if count >= low:
        out.append(" ".join(current))
    return out
