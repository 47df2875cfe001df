"""The emulator, the bot's stub endpoints and the real SDK client of the emulator tests."""

from tests.acs_emulator.conftest import acs, acs_server, bot, bot_server, sdk

__all__ = ["acs", "acs_server", "bot", "bot_server", "sdk"]
