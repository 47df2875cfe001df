"""The realtime audio process: ACS media WebSocket in, the call's workflow on the other side."""
