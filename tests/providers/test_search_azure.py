"""Azure AI Search backend, driven through the real SDK against a local fake service."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from providers.search.azure import AzureAiSearch
from providers.search.base import SearchError, search_many

INDEX = "trainings"
KEY = "test-query-key"
SEMANTIC = "trainings-semantic"
# Another index layout (integrated vectorisation style) the fake also serves.
ALIASES = {"chunk_id": "id", "heading": "title", "chunk": "content"}

DOCS: list[dict[str, Any]] = [
    {
        "id": "claims-001",
        "title": "How to declare a claim",
        "content": "Declare your claim within 5 working days, by phone or in the mobile app.",
        "@search.score": 7.25,
        "@search.rerankerScore": 3.1,
    },
    {
        "id": "claims-002",
        "title": "Photos and evidence",
        "content": "Send photos of the damage and the police report if there is one.",
        "@search.score": 9.5,  # best lexical score, but the reranker prefers claims-001
        "@search.rerankerScore": 2.4,
    },
    {
        "id": "contract-003",
        "title": "Cancelling your contract",
        "content": "After the first year you can cancel at any time, free of charge.",
        "@search.score": 1.75,
        "@search.rerankerScore": 0.9,
    },
]


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    api_key: str | None
    body: dict[str, Any] | None


@dataclass
class FakeAzureSearch:
    """Checks requests the way the real service would and records them."""

    url: str = ""
    requests: list[Seen] = field(default_factory=list)
    rejected_keys: list[str | None] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    fail_with: list[int] = field(default_factory=list)  # statuses served before succeeding

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        api_key = request.headers.get("api-key")
        self.requests.append(Seen(request.method, request.path, dict(request.query), api_key, body))
        if "api-version" not in request.query:
            return self.bad(400, "MissingApiVersion", "api-version query parameter is required")
        if api_key != KEY:
            self.rejected_keys.append(api_key)
            return self.bad(403, "Forbidden", "Authentication failed: invalid api-key.")
        if self.fail_with:
            status = self.fail_with.pop(0)
            return self.bad(status, "ServiceUnavailable", "The service is too busy.")
        base = f"/indexes('{INDEX}')/docs"
        if request.method == "GET" and request.path == f"{base}/$count":
            return web.Response(text=str(len(DOCS)), content_type="text/plain")
        if request.method == "POST" and request.path == f"{base}/search.post.search":
            return self.search(body or {})
        self.violations.append(f"unexpected {request.method} {request.path}")
        return self.bad(404, "NotFound", "No such resource")

    def search(self, body: dict[str, Any]) -> web.Response:
        problems = [f"missing {k}" for k in ("search", "top", "select") if k not in body]
        semantic = body.get("queryType") == "semantic"
        if semantic and body.get("semanticConfiguration") != SEMANTIC:
            problems.append(f"unknown semanticConfiguration {body.get('semanticConfiguration')}")
        if problems:
            self.violations.extend(problems)
            return self.bad(400, "InvalidRequestParameter", "; ".join(problems))
        rank = "@search.rerankerScore" if semantic else "@search.score"
        value = []
        for doc in sorted(DOCS, key=lambda d: d[rank], reverse=True)[: body["top"]]:
            hit = {f: doc[ALIASES.get(f, f)] for f in body["select"].split(",")}
            hit["@search.score"] = doc["@search.score"]
            if semantic:
                hit["@search.rerankerScore"] = doc["@search.rerankerScore"]
                hit["@search.captions"] = [{"text": doc["content"], "highlights": None}]
            value.append(hit)
        context = f"{self.url}/indexes('{INDEX}')/$metadata#docs(*)"
        return web.json_response({"@odata.context": context, "value": value})

    @staticmethod
    def bad(status: int, code: str, message: str) -> web.Response:
        return web.json_response({"error": {"code": code, "message": message}}, status=status)


@pytest.fixture
async def fake() -> AsyncIterator[FakeAzureSearch]:
    fake = FakeAzureSearch()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    yield fake
    await server.close()
    assert fake.violations == []


@pytest.fixture
async def client(fake: FakeAzureSearch) -> AsyncIterator[AzureAiSearch]:
    search = AzureAiSearch(fake.url, INDEX, SecretStr(KEY), semantic_configuration=SEMANTIC)
    yield search
    await search.close()


async def test_semantic_search_sends_the_expected_request(
    fake: FakeAzureSearch, client: AzureAiSearch
) -> None:
    hits = await client.search("how to declare a claim", top=3)

    (seen,) = fake.requests
    assert seen.method == "POST"
    assert seen.path == "/indexes('trainings')/docs/search.post.search"
    assert seen.query["api-version"]
    assert seen.api_key == KEY
    assert seen.body is not None
    assert set(seen.body.pop("select").split(",")) == {"id", "title", "content"}
    assert seen.body == {
        "search": "how to declare a claim",
        "queryType": "semantic",
        "semanticConfiguration": SEMANTIC,
        "top": 3,
    }
    # The reranker score wins over the lexical score, and the service's order is kept.
    assert [(h.id, h.score) for h in hits] == [
        ("claims-001", 3.1),
        ("claims-002", 2.4),
        ("contract-003", 0.9),
    ]
    assert hits[0].title == "How to declare a claim"
    assert hits[0].content.startswith("Declare your claim")


async def test_simple_search_uses_the_lexical_score(fake: FakeAzureSearch) -> None:
    search = AzureAiSearch(fake.url, INDEX, KEY, api_version="2024-07-01")
    try:
        hits = await search.search("claim photos", top=2)
    finally:
        await search.close()

    (seen,) = fake.requests
    assert seen.query["api-version"] == "2024-07-01"
    assert seen.body is not None
    assert seen.body["queryType"] == "simple"
    assert "semanticConfiguration" not in seen.body
    assert [(h.id, h.score) for h in hits] == [("claims-002", 9.5), ("claims-001", 7.25)]


async def test_field_names_are_configurable(fake: FakeAzureSearch) -> None:
    search = AzureAiSearch(
        fake.url, INDEX, KEY, id_field="chunk_id", title_field="heading", content_field="chunk"
    )
    try:
        (hit,) = await search.search("photos", top=1)
    finally:
        await search.close()
    assert fake.requests[0].body is not None
    assert set(fake.requests[0].body["select"].split(",")) == {"chunk_id", "heading", "chunk"}
    assert (hit.id, hit.title, hit.score) == ("claims-002", "Photos and evidence", 9.5)
    assert hit.content.startswith("Send photos")


async def test_wrong_key_is_rejected(fake: FakeAzureSearch) -> None:
    search = AzureAiSearch(fake.url, INDEX, SecretStr("not-the-key"), retry_total=0)
    try:
        with pytest.raises(SearchError, match=r"HTTP 403 \(Forbidden\)") as caught:
            await search.search("claim")
        with pytest.raises(SearchError, match="403"):
            await search.ping()
    finally:
        await search.close()
    assert fake.rejected_keys == ["not-the-key", "not-the-key"]
    assert "not-the-key" not in str(caught.value)


async def test_service_unavailable_becomes_search_error(fake: FakeAzureSearch) -> None:
    fake.fail_with = [503, 503]
    search = AzureAiSearch(fake.url, INDEX, KEY, retry_total=1)
    try:
        with pytest.raises(SearchError, match="HTTP 503"):
            await search.search("claim")
    finally:
        await search.close()
    assert len(fake.requests) == 2  # one retry, then give up: a caller is on the line


async def test_transient_503_is_retried(fake: FakeAzureSearch, client: AzureAiSearch) -> None:
    fake.fail_with = [503]
    hits = await client.search("claim", top=1)
    assert [h.id for h in hits] == ["claims-001"]
    assert len(fake.requests) == 2


async def test_unreachable_service_becomes_search_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    search = AzureAiSearch(f"http://127.0.0.1:{port}", INDEX, KEY, retry_total=0)
    try:
        with pytest.raises(SearchError, match="unavailable"):
            await search.search("claim")
    finally:
        await search.close()


async def test_ping_counts_documents(fake: FakeAzureSearch, client: AzureAiSearch) -> None:
    await client.ping()
    (seen,) = fake.requests
    assert (seen.method, seen.path) == ("GET", "/indexes('trainings')/docs/$count")
    assert seen.api_key == KEY


async def test_search_many_over_azure(fake: FakeAzureSearch, client: AzureAiSearch) -> None:
    hits = await search_many(client, ["declare a claim", "send photos"], top=2)
    assert len(fake.requests) == 2
    assert [h.id for h in hits] == ["claims-001", "claims-002"]


async def test_blank_query_sends_nothing(fake: FakeAzureSearch, client: AzureAiSearch) -> None:
    assert await client.search("   ") == []
    assert fake.requests == []
