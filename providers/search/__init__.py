"""Document search (RAG) behind the `search_document` LLM tool.

`AzureAiSearch` lives in `providers.search.azure` so the embedded default does not pay for
importing the Azure SDK.
"""

from providers.search.base import (
    Document,
    DocumentSearch,
    SearchError,
    documents_for_llm,
    search_many,
)
from providers.search.sqlite_fts import IndexReport, SqliteFtsSearch

__all__ = [
    "Document",
    "DocumentSearch",
    "IndexReport",
    "SearchError",
    "SqliteFtsSearch",
    "documents_for_llm",
    "search_many",
]
