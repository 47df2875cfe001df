"""`python -m tests.media_gateway.gateway_process PORT TEMPORAL REDIS TEXT`: the media gateway
in a process of its own (its memory measured alone), as `python -m media_gateway` serves it,
with the deterministic engines of `gateway_harness` (an STT that answers TEXT).

Two routes for the test besides the gateway's: `/_heard` (the audio of each utterance the
STT was given, base64) and `/_sessions/{call_id}` (what the gateway keeps of that call's
sessions), `/_redis` (the Redis connections in use).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import sys

from aiohttp import web
from redis.asyncio import Redis
from temporalio.client import Client

from core import event_loop, logs
from media_gateway.app import SESSIONS, Speech, create_app
from media_gateway.engines import Engines
from tests.media_gateway.fakes import EnergyVad, ToneTts
from tests.media_gateway.gateway_harness import RecordingStt
from tests.support.codec import codec_converter


async def serve(port: int, temporal: str, redis_url: str, text: str) -> None:
    client = await Client.connect(temporal, data_converter=codec_converter())
    redis = Redis.from_url(redis_url)
    stt = RecordingStt(text)
    app = create_app(client, Speech(Engines(vad=EnergyVad, stt=stt, tts=ToneTts()), redis))

    async def heard(_: web.Request) -> web.Response:
        return web.json_response([base64.b64encode(pcm).decode() for pcm in stt.heard])

    async def sessions(request: web.Request) -> web.Response:
        kept = app[SESSIONS].get(request.match_info["call_id"], [])
        return web.json_response([{"closed": s.closed, "frames": s.frames} for s in kept])

    async def connections(_: web.Request) -> web.Response:
        pool = redis.connection_pool
        return web.json_response({"in_use": len(pool._in_use_connections)})

    app.router.add_get("/_redis", connections)
    app.router.add_get("/_heard", heard)
    app.router.add_get("/_sessions/{call_id}", sessions)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


def main() -> None:
    port, temporal, redis_url, text = sys.argv[1:5]
    logs.setup(logging.WARNING)
    event_loop.run(serve(int(port), temporal, redis_url, text))


if __name__ == "__main__":
    main()
