"""Document search for the `search_document` tool."""

from __future__ import annotations

from temporalio import activity

from domain.contracts import SearchInput, SearchResult
from providers.search.base import DocumentSearch, SearchError, documents_for_llm, search_many


class SearchActivities:
    def __init__(self, search: DocumentSearch, *, top: int = 5) -> None:
        self._search = search
        self._top = top

    @activity.defn(name="search_documents")
    async def search_documents(self, input: SearchInput) -> SearchResult:
        try:
            docs = await search_many(self._search, input.queries, top=self._top, lang=input.lang)
        except SearchError as exc:
            # The LLM reads this and can tell the customer; retrying would only delay the turn.
            return SearchResult(text=f"Search failed: {exc}", count=0)
        return SearchResult(text=documents_for_llm(docs), count=len(docs))
