"""Embedded document search: a SQLite FTS5 index ranked with BM25."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import aiosqlite
from pydantic import BaseModel, ConfigDict

from providers.search.base import Document, SearchError

MAX_CONTENT_CHARS = 2_000
MAX_QUERY_TERMS = 32
DEFAULT_EXTENSIONS = (".md", ".txt", ".html")

# Column order matters: bm25() takes one weight per column, UNINDEXED ones included.
_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS documents USING fts5(
    id UNINDEXED, title, content, source UNINDEXED, content_hash UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2'
)
"""
# A title hit says more about what a document is about than a body hit.
_RANK = "bm25(documents, 0.0, 10.0, 1.0, 0.0, 0.0)"
_SEARCH_SQL = f"""
SELECT id, title, content, source, {_RANK} AS bm25_rank
FROM documents WHERE documents MATCH ? ORDER BY bm25_rank LIMIT ?
"""
_WORD = re.compile(r"\w+")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


class IndexReport(BaseModel):
    """What `index_folder` changed."""

    model_config = ConfigDict(frozen=True)

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0

    def __str__(self) -> str:
        return (
            f"added={self.added} updated={self.updated} "
            f"unchanged={self.unchanged} removed={self.removed}"
        )


@dataclass(frozen=True)
class _Parsed:
    id: str
    title: str
    content: str
    source: str
    content_hash: str


class SqliteFtsSearch:
    """`DocumentSearch` over a local SQLite FTS5 file; needs no external service."""

    def __init__(self, path: str | Path) -> None:
        self._path = str(path)
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def search(
        self,
        query: str,
        *,
        top: int = 5,
        lang: str | None = None,  # noqa: ARG002 - diacritics are folded for every language
    ) -> list[Document]:
        """Full-text BM25 search; `lang` is ignored."""
        match = fts_query(query)
        if match is None or top <= 0:
            return []
        try:
            conn = await self._connection()
            async with conn.execute(_SEARCH_SQL, (match, top)) as cursor:
                rows = await cursor.fetchall()
        except (aiosqlite.Error, OSError) as e:
            raise SearchError(f"Local document index failed: {e}") from e
        return [
            Document(
                id=row[0],
                title=row[1],
                content=_truncate(row[2]),
                source=row[3],
                # bm25() is negative, lower is better: flip it so higher means more relevant.
                score=-float(row[4]),
            )
            for row in rows
        ]

    async def ping(self) -> None:
        """Raises `SearchError` if the index cannot be queried."""
        try:
            conn = await self._connection()
            async with conn.execute("SELECT count(*) FROM documents") as cursor:
                await cursor.fetchone()
        except (aiosqlite.Error, OSError) as e:
            raise SearchError(f"Local document index unusable: {e}") from e

    async def close(self) -> None:
        """Closes the connection; a later call reopens it."""
        async with self._lock:
            if self._conn is not None:
                await self._conn.close()
                self._conn = None

    async def index_folder(
        self, folder: Path, *, extensions: Iterable[str] = DEFAULT_EXTENSIONS
    ) -> IndexReport:
        """Syncs the index with the files under `folder` (recursive, idempotent).

        Unchanged files are skipped by content hash and documents whose file vanished are removed.
        """
        suffixes = tuple(e.lower() for e in extensions)
        parsed = await asyncio.to_thread(_parse_folder, folder, suffixes)
        conn = await self._connection()
        async with conn.execute("SELECT id, content_hash FROM documents") as cursor:
            known = {row[0]: row[1] for row in await cursor.fetchall()}
        added = updated = unchanged = 0
        try:
            for doc in parsed:
                if known.get(doc.id) == doc.content_hash:
                    unchanged += 1
                    continue
                if doc.id in known:
                    await conn.execute("DELETE FROM documents WHERE id = ?", (doc.id,))
                    updated += 1
                else:
                    added += 1
                await conn.execute(
                    "INSERT INTO documents (id, title, content, source, content_hash)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (doc.id, doc.title, doc.content, doc.source, doc.content_hash),
                )
            gone = known.keys() - {doc.id for doc in parsed}
            await conn.executemany("DELETE FROM documents WHERE id = ?", [(i,) for i in gone])
            await conn.commit()
        except BaseException:
            await conn.rollback()
            raise
        return IndexReport(added=added, updated=updated, unchanged=unchanged, removed=len(gone))

    async def _connection(self) -> aiosqlite.Connection:
        async with self._lock:
            if self._conn is None:
                if self._path != ":memory:":
                    parent = Path(self._path).parent
                    await asyncio.to_thread(parent.mkdir, parents=True, exist_ok=True)
                conn = await aiosqlite.connect(self._path)
                try:
                    # WAL lets `callcenter index-docs` rewrite the index while calls read it.
                    await conn.execute("PRAGMA journal_mode=WAL")
                    await conn.execute(_SCHEMA)
                    await conn.commit()
                except BaseException:
                    await conn.close()
                    raise
                self._conn = conn
            return self._conn


def fts_query(text: str) -> str | None:
    """Turns free text into a safe FTS5 query: quoted words OR-ed, with prefix matching.

    Quoting every word means operators (AND, NEAR, `"`, `*`, `:`...) in user text are plain words
    and can never raise an FTS5 syntax error. Returns None when nothing is searchable.
    """
    words = [w for w in _WORD.findall(text.lower()) if len(w) > 1 or w.isdigit()]
    terms = list(dict.fromkeys(words))[:MAX_QUERY_TERMS]
    if not terms:
        return None
    # Prefix matching lets "claim" find "claims"; short words would match too much.
    return " OR ".join(f'"{t}"*' if len(t) >= 4 else f'"{t}"' for t in terms)


def _truncate(text: str, limit: int = MAX_CONTENT_CHARS) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit * 0.8 else cut).rstrip() + "…"


def _parse_folder(folder: Path, extensions: tuple[str, ...]) -> list[_Parsed]:
    if not folder.is_dir():
        raise NotADirectoryError(f"Not a folder: {folder}")
    docs = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in extensions:
            doc = _parse_file(path, rel=path.relative_to(folder).as_posix())
            if doc is not None:
                docs.append(doc)
    return docs


def _parse_file(path: Path, *, rel: str) -> _Parsed | None:
    raw = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix.lower() in (".html", ".htm"):
        title, content = _HtmlText.extract(raw)
    else:
        heading = _MD_HEADING.search(raw)
        title, content = (heading.group(1) if heading else None), raw.strip()
    if not content:
        return None  # an empty file answers nothing; treat it as absent
    title = title or path.stem.replace("_", " ").replace("-", " ")
    digest = hashlib.sha256(f"{title}\0{content}".encode()).hexdigest()
    return _Parsed(id=rel, title=title, content=content, source=rel, content_hash=digest)


class _HtmlText(HTMLParser):
    """Extracts visible text and a title (<title>, else first <h1>) from HTML."""

    _SKIP = frozenset({"script", "style", "noscript", "template", "head"})
    _TITLES = ("title", "h1")
    _BLOCK = frozenset({"p", "div", "br", "li", "tr", "section", "h1", "h2", "h3", "h4", "h5"})
    # Void elements never get an end tag, so they must not enter the open-tag stack.
    _VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._parts: list[str] = []
        self._stack: list[str] = []
        self._titles: dict[str, str] = {}
        self._closed: set[str] = set()

    @classmethod
    def extract(cls, html: str) -> tuple[str | None, str]:
        parser = cls()
        parser.feed(html)
        parser.close()
        text = re.sub(r"[ \t\r\f\v]+", " ", "".join(parser._parts))
        text = re.sub(r"\s*\n\s*", "\n", text).strip()
        title = (parser._titles.get("title") or parser._titles.get("h1") or "").strip()
        return (title or None), text

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:  # noqa: ARG002
        if tag not in self._VOID:
            self._stack.append(tag)
        if tag in self._BLOCK:
            self._parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._stack:
            # Tolerates unclosed tags such as <p> or <li> by popping up to the matching one.
            while self._stack.pop() != tag:
                pass
        if tag in self._TITLES:
            self._closed.add(tag)
        if tag in self._BLOCK:
            self._parts.append("\n")

    def handle_data(self, data: str) -> None:
        for key in self._TITLES:
            if key in self._stack and key not in self._closed:
                self._titles[key] = self._titles.get(key, "") + data
        if not any(t in self._SKIP for t in self._stack):
            self._parts.append(data)
