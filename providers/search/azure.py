"""Document search backed by Azure AI Search (optionally with the semantic ranker)."""

from __future__ import annotations

import logging
from typing import Any

from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import AzureError, HttpResponseError
from azure.search.documents.aio import SearchClient
from pydantic import SecretStr

from providers.search.base import Document, SearchError

logger = logging.getLogger(__name__)

MAX_CONTENT_CHARS = 2_000


class AzureAiSearch:
    """`DocumentSearch` over one Azure AI Search index, authenticated with an admin/query key."""

    def __init__(
        self,
        endpoint: str,
        index: str,
        api_key: SecretStr | str,
        *,
        semantic_configuration: str | None = None,
        api_version: str | None = None,
        id_field: str = "id",
        title_field: str = "title",
        content_field: str = "content",
        timeout_s: float = 10.0,
        retry_total: int = 1,
    ) -> None:
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        # A caller is waiting on the phone: keep timeouts short and retry at most once.
        options: dict[str, Any] = {
            "connection_timeout": timeout_s,
            "read_timeout": timeout_s,
            "retry_total": retry_total,
        }
        if api_version:
            options["api_version"] = api_version
        self._client = SearchClient(endpoint, index, AzureKeyCredential(key), **options)
        self._index = index
        self._semantic_configuration = semantic_configuration
        self._fields = (id_field, title_field, content_field)

    async def search(
        self,
        query: str,
        *,
        top: int = 5,
        lang: str | None = None,  # noqa: ARG002 - the service's analyzers own the language
    ) -> list[Document]:
        """Queries the index, semantic ranking when a semantic configuration is set.

        Raises:
            SearchError: The service failed or could not be reached.
        """
        if not query.strip() or top <= 0:
            return []
        options: dict[str, Any] = {"query_type": "simple"}
        if self._semantic_configuration:
            options = {
                "query_type": "semantic",
                "semantic_configuration_name": self._semantic_configuration,
            }
        docs: list[Document] = []
        try:
            results = await self._client.search(
                search_text=query, top=top, select=list(self._fields), **options
            )
            async for item in results:
                docs.append(self._to_document(item))
                if len(docs) >= top:
                    break  # never follow server-driven paging past what was asked
        except AzureError as e:
            raise _search_error(self._index, e) from e
        return docs

    async def ping(self) -> None:
        """Raises `SearchError` unless the index answers a document count."""
        try:
            await self._client.get_document_count()
        except AzureError as e:
            raise _search_error(self._index, e) from e

    async def close(self) -> None:
        """Closes the HTTP session."""
        await self._client.close()

    def _to_document(self, item: dict[str, Any]) -> Document:
        id_field, title_field, content_field = self._fields
        # The semantic reranker score (0-4) is the better relevance signal when present.
        reranker = item.get("@search.reranker_score", item.get("@search.rerankerScore"))
        score = reranker if reranker is not None else item.get("@search.score")
        content = str(item.get(content_field) or "")
        return Document(
            id=str(item.get(id_field, "")),
            title=str(item.get(title_field) or ""),
            content=content[:MAX_CONTENT_CHARS],
            score=float(score or 0.0),
        )


def _search_error(index: str, error: AzureError) -> SearchError:
    """Turns an SDK error into a short message the LLM can act on (no secrets, no stack)."""
    logger.warning("Azure AI Search call on index %r failed: %s", index, error)
    if isinstance(error, HttpResponseError):
        status = error.status_code
        code = getattr(error.error, "code", None)
        detail = f" ({code})" if code else ""
        message = f"Document search failed: Azure AI Search answered HTTP {status}{detail}"
        return SearchError(message)
    return SearchError(f"Document search unavailable: {type(error).__name__}")
