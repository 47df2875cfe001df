"""A local stand-in for Azure Communication Services Call Automation.

REST with HMAC, signed CloudEvent callbacks, Event Grid IncomingCall, the media WebSocket and
simulated PSTN phones, plus a scripted-caller API (`EmulatorClient`) to drive the phones.
"""

from acs_emulator.client import EmulatorClient, EmulatorError
from acs_emulator.config import EmulatorConfig, Timings
from acs_emulator.models import CallRecord, DialResult, EventRecord, PhoneConfig
from acs_emulator.runner import AcsEmulator

__all__ = [
    "AcsEmulator",
    "CallRecord",
    "DialResult",
    "EmulatorClient",
    "EmulatorConfig",
    "EmulatorError",
    "EventRecord",
    "PhoneConfig",
    "Timings",
]
