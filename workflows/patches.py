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
