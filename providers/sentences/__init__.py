"""The per-call stream of sentences the media gateway speaks."""

from providers.sentences.base import SentenceSink
from providers.sentences.redis_stream import RedisSentenceStream

__all__ = ["RedisSentenceStream", "SentenceSink"]
