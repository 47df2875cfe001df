"""Where calls are kept: one JSON document per call, in SQLite (embedded) or Cosmos DB."""

from providers.store.base import CallPage, CallStore, StoreUnavailable

__all__ = ["CallPage", "CallStore", "StoreUnavailable"]
