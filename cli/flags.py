"""`callcenter flags show|set|unset`: running processes pick changes up within the cache TTL."""

from __future__ import annotations

from redis.asyncio import Redis

from core.settings import get_settings
from domain.flags import FLAG_SPECS, InvalidFlag
from providers.flags.redis_flags import RedisFlags


async def flags_command(action: str, name: str | None, value: str | None) -> int:
    settings = get_settings()
    redis = Redis.from_url(settings.redis.url)
    flags = RedisFlags(redis, key=settings.flags.redis_key, ttl_sec=0)
    try:
        if action == "set":
            if name is None or value is None:
                print("usage: callcenter flags set NAME VALUE")
                return 2
            print(f"{name} = {await flags.set(name, value)}")
        elif action == "unset":
            if name is None:
                print("usage: callcenter flags unset NAME")
                return 2
            await flags.unset(name)
            print(f"{name} back to its default {FLAG_SPECS[name].default}")
        current = (await flags.get()).model_dump()
        for key, spec in FLAG_SPECS.items():
            bounds = f"[{spec.low}, {spec.high}]" if spec.low is not None else ""
            print(f"{key:40} {current[key]!s:>8}  {bounds:14} {spec.description}")
    except InvalidFlag as exc:
        print(f"error: {exc}")
        return 2
    finally:
        await redis.aclose()
    return 0
