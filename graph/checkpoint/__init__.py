"""The conversation checkpointer: LangGraph state in plain Redis, one hash tag and one TTL per
thread (see `base` for the layout and why, `aio` for the saver).

The app opens it on its shared client:

    saver = AsyncRedisSaver(redis, ttl_seconds=settings.CONVERSATION_TTL_SECONDS)
"""

from __future__ import annotations

from graph.checkpoint.aio import AsyncRedisSaver
from graph.checkpoint.base import DEFAULT_PREFIX, DEFAULT_TTL_SECONDS, BaseRedisSaver

__all__ = ["AsyncRedisSaver", "BaseRedisSaver", "DEFAULT_PREFIX", "DEFAULT_TTL_SECONDS"]
