"""Per-contact burst buffer, dedup and leases in Redis: how a burst of messages becomes one turn.

Webhook side, one atomic script per message (`add`): skip a provider message id seen before (the
seen-key TTL covers Meta's 7-day retry window), append the message to the contact's pending list,
and schedule the contact in the `due` sorted set at `min(last + quiet gap, first + max wait)`.
A contact holds at most `max_messages` (pending and in flight together; a full buffer is due at
once): no person writes fifty messages in one burst, a flood must not become one huge turn.

Worker side (`claim`): take the first due contact that no live worker holds, set a lease (a token
with a TTL) and move its pending messages into its in-flight list. The contact stays in `due` with
the lease's expiry as score, so when a worker dies its burst becomes due again when the lease
expires, and the next worker takes the in-flight messages (plus anything new). A worker that
finishes `ack`s with its token: the in-flight list goes, and messages that arrived meanwhile are
scheduled as the next burst. Messages that arrive while a burst is with the model can be `merge`d
into it (the stale-draft rule), unless its reply is already going out.

Every script checks the lease token, so a worker that lost its lease cannot ack another's work.
The per-contact state hash keeps, across retries of one burst, the checkpoint the burst started
from, the reply text once drafted and which of its parts were sent: a retried burst sends the rest
of the same reply instead of a second one.

Keys: `wa:due` (sorted set) and, per contact, `wa:c:{<thread>}:msgs|inflight|state|lease` (one
hash tag per contact). The scripts touch the shared `due` set and a contact's keys together, so
the buffer needs one Redis primary (not a sharded Cluster); the checkpointer has no such limit.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from integrations.whatsapp.types import InboundMessage

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["BufferFull", "Burst", "BurstBuffer", "DEDUP_TTL_SECONDS", "LeaseLost"]

DUE_KEY = "wa:due"
PREFIX = "wa:c:"
# Meta retries a failed delivery for up to 7 days; a day more to be safe.
DEDUP_TTL_SECONDS = 8 * 24 * 3600
# Pending/in-flight data of a contact that nobody processes (a bug, an outage) is kept this long.
RETENTION_MS = 7 * 24 * 3600 * 1000

ADD = """
-- KEYS: seen, msgs, state, lease, due, inflight
-- ARGV: thread, message, now, quiet, max_wait, dedup_ttl, retention, max_messages
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[6]) == false then return -1 end
local held = redis.call('LLEN', KEYS[2]) + redis.call('LLEN', KEYS[6])
if held >= tonumber(ARGV[8]) then return -2 end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[7])
local now = tonumber(ARGV[3])
local first = tonumber(redis.call('HGET', KEYS[3], 'first') or ARGV[3])
redis.call('HSET', KEYS[3], 'first', first, 'last', now)
redis.call('PEXPIRE', KEYS[3], ARGV[7])
-- While a worker holds the contact, its ack schedules what arrived meanwhile.
if redis.call('EXISTS', KEYS[4]) == 0 then
  local due = math.min(now + tonumber(ARGV[4]), first + tonumber(ARGV[5]))
  if held + 1 >= tonumber(ARGV[8]) then due = now end
  redis.call('ZADD', KEYS[5], due, ARGV[1])
end
return redis.call('LLEN', KEYS[2])
"""

CLAIM = """
-- KEYS: due ; ARGV: now, lease_ms, token, prefix, scan, retention
local now = tonumber(ARGV[1])
local lease_ms = tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0,
                      tonumber(ARGV[5]))
for i = 1, #due, 2 do
  local thread, due_at = due[i], due[i + 1]
  local p = ARGV[4] .. '{' .. thread .. '}:'
  local ttl = redis.call('PTTL', p .. 'lease')
  if ttl > 0 then
    redis.call('ZADD', KEYS[1], now + ttl, thread)
  else
    redis.call('SET', p .. 'lease', ARGV[3], 'PX', lease_ms)
    redis.call('ZADD', KEYS[1], now + lease_ms, thread)
    -- A reply already going out answers exactly its own messages: newer ones wait for the
    -- next burst.
    if redis.call('HEXISTS', p .. 'state', 'reply') == 0 then
      local pending = redis.call('LRANGE', p .. 'msgs', 0, -1)
      for _, m in ipairs(pending) do redis.call('RPUSH', p .. 'inflight', m) end
      redis.call('DEL', p .. 'msgs')
      redis.call('HDEL', p .. 'state', 'first', 'last')
    end
    local inflight = redis.call('LRANGE', p .. 'inflight', 0, -1)
    if #inflight == 0 then
      redis.call('DEL', p .. 'lease')
      redis.call('ZREM', KEYS[1], thread)
    else
      redis.call('PEXPIRE', p .. 'inflight', ARGV[6])
      local attempts = redis.call('HINCRBY', p .. 'state', 'attempts', 1)
      redis.call('PEXPIRE', p .. 'state', ARGV[6])
      local result = {thread, tostring(attempts), due_at}
      for _, m in ipairs(inflight) do table.insert(result, m) end
      return result
    end
  end
end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #nxt == 0 then return {} end
return {'', nxt[2]}
"""

MERGE = """
-- KEYS: lease, msgs, inflight, state ; ARGV: token
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
if redis.call('HEXISTS', KEYS[4], 'reply') == 1 then return 0 end
local pending = redis.call('LRANGE', KEYS[2], 0, -1)
for _, m in ipairs(pending) do redis.call('RPUSH', KEYS[3], m) end
redis.call('DEL', KEYS[2])
redis.call('HDEL', KEYS[4], 'first', 'last')
return #pending
"""

ACK = """
-- KEYS: lease, msgs, inflight, state, due ; ARGV: token, thread, quiet, max_wait, now
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local first = redis.call('HGET', KEYS[4], 'first')
local last = redis.call('HGET', KEYS[4], 'last')
redis.call('DEL', KEYS[1], KEYS[3], KEYS[4])
if redis.call('LLEN', KEYS[2]) > 0 then
  local now = tonumber(ARGV[5])
  first = tonumber(first or now)
  last = tonumber(last or now)
  redis.call('HSET', KEYS[4], 'first', first, 'last', last)
  local due = math.min(last + tonumber(ARGV[3]), first + tonumber(ARGV[4]))
  redis.call('ZADD', KEYS[5], due, ARGV[2])
else
  redis.call('ZREM', KEYS[5], ARGV[2])
end
return 1
"""

RELEASE = """
-- KEYS: lease, due ; ARGV: token, thread, retry_at
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
return 1
"""

EXTEND = """
-- KEYS: lease, due ; ARGV: token, thread, lease_ms, now
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], tonumber(ARGV[4]) + tonumber(ARGV[3]), ARGV[2])
return 1
"""

STATE_SET = """
-- KEYS: lease, state ; ARGV: token, only_if_absent, field, value[, field, value...]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
if ARGV[2] == '1' then return redis.call('HSETNX', KEYS[2], ARGV[3], ARGV[4]) end
redis.call('HSET', KEYS[2], unpack(ARGV, 3))
return 1
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _key(thread: str, part: str) -> str:
    return f"{PREFIX}{{{thread}}}:{part}"


@dataclass(slots=True, kw_only=True)
class Burst:
    """A leased burst: the contact's in-flight messages, in arrival order."""

    thread_id: str
    token: str
    attempts: int
    """1 on the first try; more when a worker died or processing failed before."""
    messages: list[InboundMessage]
    due_at: float = 0.0
    """When the burst became due (epoch seconds): the queue lag is measured from here."""

    @property
    def message_ids(self) -> list[str]:
        return [m.message_id for m in self.messages]

    @property
    def key(self) -> str:
        """The burst's identity across its retries: its first message's provider id (the
        in-flight list only ever grows at its end, and the ack starts the next burst afresh)."""
        return self.messages[0].message_id


class BurstBuffer:
    """The Redis side of the pipeline (see the module docstring)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        quiet_ms: int,
        max_wait_ms: int,
        lease_ms: int = 30_000,
        max_messages: int = 50,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.clock = clock
        """Seconds since the epoch; every process sharing the buffer must agree (NTP)."""
        self.quiet_ms = quiet_ms
        self.max_wait_ms = max_wait_ms
        self.lease_ms = lease_ms
        self.max_messages = max_messages
        self._add = redis.register_script(ADD)
        self._claim = redis.register_script(CLAIM)
        self._merge = redis.register_script(MERGE)
        self._ack = redis.register_script(ACK)
        self._release = redis.register_script(RELEASE)
        self._extend = redis.register_script(EXTEND)
        self._state_set = redis.register_script(STATE_SET)

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    # --- Webhook side ----------------------------------------------------------------------
    async def add(self, message: InboundMessage) -> bool:
        """Buffer `message`; False when its id was seen before (a provider retry).

        Raises `BufferFull` when the contact already holds `max_messages`: the message is
        dropped (and its id kept as seen, so a redelivery is a duplicate)."""
        seen = f"wa:seen:{message.channel}:{message.message_id}"
        thread = message.thread_id
        result = await self._add(
            keys=[
                seen,
                _key(thread, "msgs"),
                _key(thread, "state"),
                _key(thread, "lease"),
                DUE_KEY,
                _key(thread, "inflight"),
            ],
            args=[
                thread,
                message.to_json(),
                self._now_ms(),
                self.quiet_ms,
                self.max_wait_ms,
                DEDUP_TTL_SECONDS,
                RETENTION_MS,
                self.max_messages,
            ],
        )
        if int(result) == -2:
            raise BufferFull(f"{self.max_messages} messages are buffered for this contact already")
        return int(result) >= 0

    # --- Worker side -----------------------------------------------------------------------
    async def claim(self, *, scan: int = 16) -> Burst | float | None:
        """Lease the first due burst. Otherwise the number of seconds until the next one is due
        (0 when the due ones are all held by other workers), or None when nothing is buffered."""
        token = uuid.uuid4().hex
        now = self._now_ms()
        result = await self._claim(
            keys=[DUE_KEY], args=[now, self.lease_ms, token, PREFIX, scan, RETENTION_MS]
        )
        if not result:
            return None
        thread = result[0].decode() if isinstance(result[0], bytes) else result[0]
        if not thread:
            return max(0.0, (float(result[1]) - now) / 1000)
        messages = [InboundMessage.from_json(raw) for raw in result[3:]]
        return Burst(
            thread_id=thread, token=token, attempts=int(result[1]), messages=messages,
            due_at=float(result[2]) / 1000,
        )

    async def merge_new(self, burst: Burst) -> list[InboundMessage]:
        """Fold messages that arrived since the claim into `burst`; returns the new ones."""
        thread = burst.thread_id
        moved = await self._merge(
            keys=[
                _key(thread, "lease"),
                _key(thread, "msgs"),
                _key(thread, "inflight"),
                _key(thread, "state"),
            ],
            args=[burst.token],
        )
        if int(moved) <= 0:
            return []
        raw = await self.redis.lrange(_key(thread, "inflight"), len(burst.messages), -1)
        new = [InboundMessage.from_json(item) for item in raw]
        burst.messages.extend(new)
        return new

    async def has_new(self, burst: Burst) -> bool:
        """Whether the contact wrote again since `burst` was claimed or last merged."""
        return bool(await self.redis.exists(_key(burst.thread_id, "msgs")))

    async def ack(self, burst: Burst) -> bool:
        """The burst is done (reply sent or nothing to send); schedules what arrived meanwhile."""
        thread = burst.thread_id
        result = await self._ack(
            keys=[
                _key(thread, "lease"),
                _key(thread, "msgs"),
                _key(thread, "inflight"),
                _key(thread, "state"),
                DUE_KEY,
            ],
            args=[burst.token, thread, self.quiet_ms, self.max_wait_ms, self._now_ms()],
        )
        return bool(result)

    async def release(self, burst: Burst, *, retry_in_seconds: float) -> bool:
        """Give the burst back, to be tried again in `retry_in_seconds` (processing failed)."""
        thread = burst.thread_id
        retry_at = self._now_ms() + int(retry_in_seconds * 1000)
        return bool(
            await self._release(
                keys=[_key(thread, "lease"), DUE_KEY], args=[burst.token, thread, retry_at]
            )
        )

    async def extend(self, burst: Burst) -> bool:
        """Renew the lease while processing takes long; False if the lease was lost."""
        thread = burst.thread_id
        return bool(
            await self._extend(
                keys=[_key(thread, "lease"), DUE_KEY],
                args=[burst.token, thread, self.lease_ms, self._now_ms()],
            )
        )

    async def forget(self, thread_id: str) -> None:
        """Drop everything buffered for a contact (a data-deletion request)."""
        parts = ("msgs", "inflight", "state", "lease")
        await self.redis.delete(*(_key(thread_id, part) for part in parts))
        await self.redis.zrem(DUE_KEY, thread_id)

    # --- Per-burst state kept across retries -------------------------------------------------
    async def get_state(self, burst: Burst) -> dict[str, str]:
        raw = await self.redis.hgetall(_key(burst.thread_id, "state"))
        return {_text(k): _text(v) for k, v in raw.items()}

    async def set_state(
        self, burst: Burst, field: str, value: str, *, only_if_absent: bool = False
    ) -> bool:
        """Set a field of the burst's state under its lease; False if absent-only and present."""
        return await self._set(burst, [field, value], only_if_absent=only_if_absent)

    async def update_state(self, burst: Burst, fields: Mapping[str, str]) -> None:
        """Set several fields of the burst's state at once (one round trip) under its lease."""
        await self._set(burst, [item for pair in fields.items() for item in pair])

    async def _set(self, burst: Burst, pairs: list[str], *, only_if_absent: bool = False) -> bool:
        result = await self._state_set(
            keys=[_key(burst.thread_id, "lease"), _key(burst.thread_id, "state")],
            args=[burst.token, "1" if only_if_absent else "0", *pairs],
        )
        if int(result) < 0:
            raise LeaseLost(
                f"the lease on {burst.thread_id} was lost; another worker has the burst"
            )
        return bool(result)


class BufferFull(Exception):
    """The contact already holds `BUFFER_MAX_MESSAGES` messages; this one was not buffered."""


class LeaseLost(Exception):
    """This worker's lease expired and another worker took the burst; stop without sending."""
