"""Conversation evaluation: scripted callers against the running call stack, scored turn by turn.

`evals.scenario` loads the YAML scenarios of `evals/scenarios/`, `evals.stack` starts the
stack (dev server, Redis, an LLM backend, the worker, the API) as separate processes,
`evals.runner` plays a scenario through the chat channel of the API and `evals.metrics` scores
what the call did. `bench/conversations.py` prints the table.
"""
