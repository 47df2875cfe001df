"""Where running processes read the feature flags from."""

from __future__ import annotations

from typing import Protocol

from domain.flags import FeatureFlags


class FlagSource(Protocol):
    async def get(self) -> FeatureFlags: ...
