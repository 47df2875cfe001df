"""Document search contract shared by the RAG backends and the `search_document` tool."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Protocol

from pydantic import BaseModel, ConfigDict

logger = logging.getLogger(__name__)

EMPTY_DOCUMENTS = "<documents>[]</documents>"

# JSON escapes keep the payload valid JSON while making it impossible for document text to
# produce a literal "</documents>" (or any other tag) inside the tool result.
_TAG_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


class SearchError(Exception):
    """A search backend failed; the message is safe to hand to the LLM as a tool error."""


class Document(BaseModel):
    """One search hit."""

    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    content: str
    score: float = 0.0
    source: str | None = None


class DocumentSearch(Protocol):
    """A document index the agent can query during a call."""

    async def search(self, query: str, *, top: int = 5, lang: str | None = None) -> list[Document]:
        """Returns up to `top` documents, best first; backends may ignore `lang`.

        Raises:
            SearchError: The backend failed.
        """
        ...

    async def ping(self) -> None:
        """Raises if the backend is unusable (readiness probe)."""
        ...

    async def close(self) -> None:
        """Releases connections."""
        ...


async def search_many(
    search: DocumentSearch, queries: list[str], *, top: int = 5, lang: str | None = None
) -> list[Document]:
    """Runs the queries concurrently and merges the hits.

    Duplicates keep their best score; the result is sorted by score, best first. When only some
    queries fail, the others' hits are returned, because a partial answer beats none mid-call.

    Raises:
        SearchError: Every query failed.
    """
    unique = list(dict.fromkeys(q.strip() for q in queries if q.strip()))
    if not unique:
        return []
    outcomes = await asyncio.gather(
        *(search.search(q, top=top, lang=lang) for q in unique), return_exceptions=True
    )
    best: dict[str, Document] = {}
    errors: list[SearchError] = []
    for query, outcome in zip(unique, outcomes, strict=True):
        if isinstance(outcome, SearchError):
            logger.warning("search failed for query %r: %s", query, outcome)
            errors.append(outcome)
            continue
        if isinstance(outcome, BaseException):
            raise outcome  # a bug, not a backend failure: never hide it
        for doc in outcome:
            kept = best.get(doc.id)
            if kept is None or doc.score > kept.score:
                best[doc.id] = doc
    if errors and len(errors) == len(unique):
        raise errors[0]
    return sorted(best.values(), key=lambda d: d.score, reverse=True)


def documents_for_llm(docs: list[Document]) -> str:
    """Formats hits as `<documents>[{id, title, content}, ...]</documents>` for the LLM."""
    if not docs:
        return EMPTY_DOCUMENTS
    payload = json.dumps(
        [{"id": d.id, "title": d.title, "content": d.content} for d in docs], ensure_ascii=False
    )
    return f"<documents>{payload.translate(_TAG_SAFE)}</documents>"
