"""The composition root: settings → concrete providers → activities → Temporal worker.

Run with `python worker.py` (or `callcenter worker`). Several workers can run side by side on
the same task queue; a crashed worker's calls move to another within about a second (its LLM
turn is retried ~1 s after a SIGKILL, with the server's `history.timerProcessorMaxTimeShift` at
100 ms: docs/deploy.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from contextlib import AsyncExitStack
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from activities.campaign import CampaignActivities
from activities.campaign_hours import CallingHoursActivities
from activities.campaign_store import CampaignStore
from activities.flags import FlagActivities
from activities.llm import LlmActivities
from activities.messaging import MessagingActivities
from activities.post_call import PostCallActivities
from activities.reminders import ReminderActivities
from activities.search import SearchActivities
from activities.speech import SpeechActivities
from activities.store import StoreActivities
from activities.telephony import TelephonyActivities
from activities.usage import UsageActivities
from activities.webhooks import WebhookActivities
from core import logs, tracing
from core.settings import Settings, TelephonySettings, get_settings
from core.stores import open_redis, open_search, open_store
from core.temporal import connect
from providers.flags.redis_flags import RedisFlags
from providers.llm.openai_chat import OpenAiChat
from providers.sentences.redis_stream import RedisSentenceStream
from providers.sms.base import SmsSender
from providers.sms.outbox import OutboxSms
from providers.telephony.base import PhoneLine
from providers.telephony.connections import ConnectionRegistry
from workflows.call import CallWorkflow
from workflows.campaign import CampaignWorkflow
from workflows.reminder import ReminderWorkflow
from workflows.sandbox import WORKFLOW_RUNNER
from workflows.webhooks import WebhookWorkflow

log = logging.getLogger("worker")


def open_phone_line(settings: TelephonySettings, stack: AsyncExitStack) -> PhoneLine | None:
    """The ACS line when configured; None holds calls on the chat channel."""
    if settings.kind != "acs" or settings.acs is None:
        return None
    from providers.telephony.acs import AcsTelephony

    acs = settings.acs
    line = AcsTelephony(
        endpoint=acs.endpoint,
        access_key=acs.access_key.get_secret_value(),
        bot_phone_number=acs.phone_number,
        cognitive_services_endpoint=acs.cognitive_services_endpoint,
        recording_container_url=acs.recording_container_url,
    )
    stack.push_async_callback(line.close)
    return line


def open_sms(settings: Settings, stack: AsyncExitStack) -> SmsSender:
    """The configured SMS sender; the offline default keeps messages in an outbox file."""
    if settings.sms.kind == "twilio" and settings.sms.twilio is not None:
        from providers.sms.twilio import TwilioSms

        twilio = settings.sms.twilio
        twilio_sms = TwilioSms(
            twilio.account_sid,
            twilio.auth_token.get_secret_value(),
            twilio.phone_number,
            base_url=twilio.base_url,
        )
        stack.push_async_callback(twilio_sms.close)
        return twilio_sms
    if settings.sms.kind == "acs" and settings.telephony.acs is not None:
        from providers.sms.acs import AcsSms

        acs = settings.telephony.acs
        acs_sms = AcsSms(
            acs.endpoint,
            acs.access_key.get_secret_value(),
            settings.sms.acs_phone_number or acs.phone_number,
        )
        stack.push_async_callback(acs_sms.close)
        return acs_sms
    return OutboxSms(settings.sms.outbox_path)


async def build_worker(client: Client, settings: Settings, stack: AsyncExitStack) -> Worker:
    """Everything a worker needs, opened on `stack` so it is closed in reverse order."""
    redis = open_redis(settings.redis)
    stack.push_async_callback(redis.aclose)
    store = await open_store(settings.store)
    stack.push_async_callback(store.close)
    search = open_search(settings.search)
    stack.push_async_callback(search.close)
    sentences = RedisSentenceStream(
        redis,
        maxlen=settings.redis.sentence_stream_maxlen,
        ttl_sec=settings.redis.sentence_stream_ttl_sec,
    )
    flags = RedisFlags(redis, key=settings.flags.redis_key, ttl_sec=settings.flags.cache_ttl_sec)

    fast, slow = OpenAiChat(settings.llm.fast), OpenAiChat(settings.llm.slow)
    stack.push_async_callback(fast.aclose)
    stack.push_async_callback(slow.aclose)
    llm = LlmActivities(
        fast=fast,
        slow=slow,
        sentences=sentences,
        settings=settings.llm,
    )
    store_activities = StoreActivities(store)
    speech = SpeechActivities(sentences)
    telephony = TelephonyActivities(
        open_phone_line(settings.telephony, stack), settings.telephony, ConnectionRegistry(redis)
    )
    sms = open_sms(settings, stack)
    messaging = MessagingActivities(sms)
    post_call = PostCallActivities(slow, json_schema=settings.llm.profile == "small")
    reminders = ReminderActivities(client, store, sms, settings)
    search_activities = SearchActivities(search, top=settings.search.top)
    flag_activities = FlagActivities(flags)
    webhooks = WebhookActivities(
        settings.webhooks, store, client=client, task_queue=settings.temporal.task_queue
    )
    stack.push_async_callback(webhooks.aclose)
    usage = UsageActivities(client, settings.prices)
    campaign_store = await CampaignStore(settings.campaigns.path(settings.store)).open()
    stack.push_async_callback(campaign_store.close)
    campaigns = CampaignActivities(client, campaign_store, store, settings)
    calling_hours = CallingHoursActivities(settings.calling_hours)

    return Worker(
        client,
        task_queue=settings.temporal.task_queue,
        workflows=[CallWorkflow, CampaignWorkflow, ReminderWorkflow, WebhookWorkflow],
        activities=[
            llm.llm_turn,
            store_activities.save_call,
            speech.speak,
            telephony.hang_up,
            telephony.transfer_call,
            telephony.connect_call,
            telephony.play,
            telephony.recognize,
            telephony.start_media,
            telephony.stop_media,
            telephony.start_recording,
            telephony.call_connection_state,
            telephony.add_agent,
            telephony.brief_agent,
            telephony.finish_transfer,
            messaging.send_sms,
            messaging.notify_emergencies,
            search_activities.search_documents,
            flag_activities.read_flags,
            post_call.post_call,
            reminders.schedule_reminder,
            reminders.cancel_reminders,
            reminders.follow_up,
            reminders.report_reminder,
            campaigns.campaign_plan,
            campaigns.claim_contacts,
            campaigns.watch_call,
            campaigns.record_attempt,
            campaigns.finish_campaign,
            campaigns.set_campaign_status,
            calling_hours.calling_slot,
            webhooks.enqueue_webhook,
            webhooks.webhook_targets,
            campaigns.campaign_cost,
            webhooks.deliver_webhook,
            usage.price_call,
        ],
        # A dead worker's sticky queue holds its calls for this long (10 s by default).
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=1),
        max_concurrent_activities=500,
        # Workflow tasks time out after WORKFLOW_TASK_TIMEOUT (1 s) once this worker has taken
        # them: it takes no more than it can finish in that time (a burst of new calls waits
        # on the server, where nothing times out, instead of timing out here on the GIL).
        max_concurrent_workflow_tasks=10,
        # `llm_turn` beats every 0.25 s against a 1 s heartbeat timeout (so a killed worker's
        # turn moves in about a second): send them that often, not at 0.8 of the timeout, or a
        # busy worker's live attempt times out and is run twice.
        max_heartbeat_throttle_interval=timedelta(milliseconds=300),
        workflow_runner=WORKFLOW_RUNNER,
    )


async def run(settings: Settings) -> None:
    client = await connect(settings.temporal)
    async with AsyncExitStack() as stack:
        worker = await build_worker(client, settings, stack)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with worker:
            log.info(
                "worker polling %s on %s", settings.temporal.task_queue, settings.temporal.address
            )
            await stop.wait()


def main() -> None:
    logs.setup()
    flush_spans = tracing.configure("callcenter-worker")
    try:
        asyncio.run(run(get_settings()))
    finally:
        if flush_spans is not None:
            flush_spans()
    # temporalio can crash at interpreter exit (sdk-python#300); exit without finalisers.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
