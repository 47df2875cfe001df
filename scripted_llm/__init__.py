"""Scripted OpenAI-compatible chat-completions server for tests, benchmarks and ``make dev``."""

from scripted_llm.runner import ScriptedLlmServer
from scripted_llm.script import (
    GENERIC_DEFAULT_TEXT,
    Match,
    RecordedRequest,
    Script,
    ScriptedReply,
    ScriptedToolCall,
    ScriptState,
)
from scripted_llm.server import create_app

__all__ = [
    "GENERIC_DEFAULT_TEXT",
    "Match",
    "RecordedRequest",
    "Script",
    "ScriptState",
    "ScriptedLlmServer",
    "ScriptedReply",
    "ScriptedToolCall",
    "create_app",
]
