"""Ids of the `workflow.patched()` markers: one per change that running executions replay.

Each id guards new behaviour; the `else` branch keeps the old one for histories recorded
before it (procedure: docs/deploy.md, patch → deprecate → remove).
"""

from __future__ import annotations

# `llm_turn` retried by Temporal (keyed sentences), heartbeat timeout 1 s, attempts bounded by
# the hard timeout; before it, one attempt and the workflow's own retry after an apology.
LLM_TURN_RETRY = "llm-turn-retry"
# A turn always stores the caller's words and the state, even when Redis or the LLM fail: the
# static phrases of a turn are guarded, and the state is saved whatever happens.
TURN_GUARDED = "turn-guarded"
# The flags last read are kept when the flag store does not answer (no turn held on it).
FLAGS_FALLBACK = "flags-fallback"
# An ACS event id already handled is ignored (ACS and Event Grid deliver at least once).
ACS_EVENT_ONCE = "acs-event-once"
# `llm_turn` retried until the hard timeout rather than three times (a Redis restart spent the
# three attempts in ~0.3 s and the next iteration said the answer again).
LLM_TURN_UNTIL_HARD = "llm-turn-until-hard"
# A lost media stream is restarted backing off (`MEDIA_RESTART_DELAYS`), the count starts over
# once a stream stayed up, and a call whose media cannot be restored is told so and ended.
MEDIA_RESTART_BACKOFF = "media-restart-backoff"
# While a phone call is starting, ACS is asked for the connection's state (durable timers,
# backing off): a lost `CallConnected`/`CallDisconnected` is reconciled, and a call that never
# connects is hung up and ended instead of staying "starting".
CONNECT_RECONCILE = "connect-reconcile"
# A goodbye or transfer notice whose PlayCompleted is overdue goes on as if it came; a hang-up
# whose CallDisconnected does not come is checked with ACS, and the call ends either way.
CALLBACK_OVERDUE = "callback-overdue"
# The turn policy of a call's first turn is kept in its state (`CallState.turn_policy`), so
# every later turn runs the same policy whatever the settings say then.
TURN_POLICY_STATE = "turn-policy-state"
# Every call ends with an outcome (`CallState.outcome`, `domain/outcome.py`): from
# CreateCallFailed's result code, who hung up and when, a transfer, the answering-machine
# detector; kept in the state and in the `CallOutcome` search attribute.
CALL_OUTCOME = "call-outcome"
# An outbound call with a `machine_action` waits for the media gateway's answering-machine
# detection before greeting; a machine gets the message after its beep, or is hung up on.
ANSWERING_MACHINE = "answering-machine"
# A completed call that is resumed (a call back, a chat turn) gets a fresh synthesis, next
# action and SMS summary when the caller talked since the last post-call.
POST_CALL_AFTER_RESUME = "post-call-after-resume"
# On the chat channel the phrases the workflow says (goodbye, hand-off notice, apologies) are
# stored in the transcript and part of the turn's reply, as a voice caller hears them.
CHAT_PHRASES_SHOWN = "chat-phrases-shown"
# A caller who calls back hears a short "welcome back" turn of the model (`end_call` not
# offered in it) instead of the first call's greeting.
WELCOME_BACK = "welcome-back"
# Standard Webhooks to the customer's endpoints (`call.started`, `call.connected`,
# `call.ended`, `call.analyzed`), each delivered by an abandoned child `WebhookWorkflow`.
WEBHOOKS = "webhooks"
# An ended call's usage is measured and priced (activity `price_call`) before `call.ended`.
USAGE_COST = "usage-cost"
# A reminder's call back waits (durable timer) for the callee's calling hours (the settings'
# `calling_hours`, in the zone of their number) before each attempt.
REMINDER_CALLING_HOURS = "reminder-calling-hours"
# A save sends the state with only the messages changed since the run's last save (the core
# keeps each local activity's input: whole states grew a worker by the square of the turns).
SAVE_CHANGED_MESSAGES = "save-changed-messages"
# After post-call the usage is priced again: its tokens and the SMS summary count too.
USAGE_AFTER_POST_CALL = "usage-after-post-call"
# A webhook event is enqueued by the activity `enqueue_webhook` (it starts the event's
# `WebhookWorkflow`) instead of a child start.
WEBHOOKS_ENQUEUED = "webhooks-enqueued"
# A call's run evaluates every patch of `CALL_PATCHES` when it starts, before any local
# activity. Evaluated lazily, a `patched()` right after a local activity could land in the next
# workflow task (the core completed a heartbeat task with the activity's marker but not the code
# after it, on a loaded worker); on replay the core resolves the activity at once and the patch
# came out False: "Non-deprecated patch marker encountered" (TMPRL1100).
PATCHES_UP_FRONT = "patches-up-front"
# A reminder tells the customer's endpoints what it does (`reminder.fired` at each attempt,
# then `reminder.completed`, `reminder.failed` or `reminder.cancelled`). ReminderWorkflow only:
# not one of `CALL_PATCHES`.
REMINDER_WEBHOOKS = "reminder-webhooks"
# A campaign tells the customer's endpoints (the deployment's and its own `webhook_url`) when it
# starts, is paused or resumed, and completes or is cancelled. CampaignWorkflow only.
CAMPAIGN_WEBHOOKS = "campaign-webhooks"
# `campaign.completed` / `campaign.cancelled` carry the summed cost of the campaign's calls
# (activity `campaign_cost`). CampaignWorkflow only.
CAMPAIGN_COST = "campaign-cost"

# An outbound phone call with its own `calling_hours` placed outside them waits (durable
# timer) for the next opening in the callee's zone before dialling.
CALL_HOURS = "call-calling-hours"

# A phone caller who asks for a person is handed over warm when the call's `transfer_mode` is
# "warm" (`workflows/call_transfer.py`): held, the agent added, briefed and asked to press 1;
# before it, every phone transfer was cold (`transferToParticipant`).
WARM_TRANSFER = "warm-transfer"

# A call continues as new past the flag `history_rotate_events` (400 events by default), not
# only when Temporal suggests it (~4,000): a worker's core holds a state machine for every event
# of each run it caches, and long calls grew the workers by 7 MB a minute in the soak.
HISTORY_ROTATION = "history-rotation"

# Every patch `CallWorkflow` checks, evaluated up front in runs that have `PATCHES_UP_FRONT`
# (a run recorded before it keeps evaluating them where the code reaches them). A new patch of
# the call workflows goes at the end of this list (docs/deploy.md); one left out is evaluated
# lazily and can meet the race above.
CALL_PATCHES = (
    LLM_TURN_RETRY,
    TURN_GUARDED,
    FLAGS_FALLBACK,
    ACS_EVENT_ONCE,
    LLM_TURN_UNTIL_HARD,
    MEDIA_RESTART_BACKOFF,
    CONNECT_RECONCILE,
    CALLBACK_OVERDUE,
    TURN_POLICY_STATE,
    CALL_OUTCOME,
    ANSWERING_MACHINE,
    POST_CALL_AFTER_RESUME,
    CHAT_PHRASES_SHOWN,
    WELCOME_BACK,
    WEBHOOKS,
    USAGE_COST,
    SAVE_CHANGED_MESSAGES,
    USAGE_AFTER_POST_CALL,
    WEBHOOKS_ENQUEUED,
    CALL_HOURS,
    WARM_TRANSFER,
    HISTORY_ROTATION,
)

# A reminder's phone call back is watched to its end (activity `watch_call`): answered by a
# person it completes the reminder; no answer, busy, voicemail or failed is called again after
# the outcome's delay (`reminders.retry`, calling hours waited for again); before it, a call
# back counted as sent once placed. ReminderWorkflow only: not one of `CALL_PATCHES`.
REMINDER_CALL_OUTCOME = "reminder-call-outcome"
