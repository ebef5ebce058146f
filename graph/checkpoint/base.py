"""Storage layout, Lua scripts and pure encoding of the Redis checkpointer; no I/O here.

Why this layout: LangGraph's own Redis saver needs RedisJSON and RediSearch, which plain Redis,
Valkey, ElastiCache, Memorystore and Upstash lack. This one uses core commands only. Every thread
owns exactly four keys, all under one hash tag (`{thread_id}`), so the saver works on Redis Cluster
and a thread can be refreshed (`PEXPIRE`) or erased (`DEL`) by name, without `KEYS` or `SCAN`:

    <prefix>:{<thread_id>}:idx      sorted set, score 0, member `ns\\0checkpoint_id` (lex order =
                                    checkpoint-id order, as LangGraph's ids are monotonic uuid6)
    <prefix>:{<thread_id>}:cp       hash  `ns\\0checkpoint_id` -> checkpoint record
    <prefix>:{<thread_id>}:blobs    hash  `ns\\0channel\\0version` -> channel value
    <prefix>:{<thread_id>}:writes   hash  `ns\\0checkpoint_id` -> all pending writes of it

Values are netstrings (`<len>:<bytes>` repeated), because a Lua script can cut them with
`string.find` and no Lua library beyond the core. A checkpoint record lists the blob fields it
reads, so one script finds checkpoint, writes and channel values in one round trip; a put, a
put_writes and a get are each one script call (one round trip), and each refreshes the TTL of
all four keys. Within a script every key is judged expired or not at the same instant, so a thread
expires whole, never half.

Shallow mode keeps the newest checkpoint of each namespace only (the put script prunes), which is
what bounds memory for a chat whose history lives in the state anyway. It is not usable with
`DeltaChannel` (beta in LangGraph), which needs ancestor checkpoints.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    PendingWrite,
    get_checkpoint_metadata,
    writes_sort_key,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

__all__ = [
    "BaseRedisSaver",
    "DEFAULT_PREFIX",
    "DEFAULT_TTL_SECONDS",
    "GET_SCRIPT",
    "PRUNE_SCRIPT",
    "PUT_SCRIPT",
    "PUT_WRITES_SCRIPT",
    "decode_items",
    "encode_items",
]

DEFAULT_PREFIX = "checkpoint"
# WhatsApp's customer-service window; the app passes `CONVERSATION_TTL_SECONDS`.
DEFAULT_TTL_SECONDS = 86400
KEY_KINDS = ("idx", "cp", "blobs", "writes")  # the order of KEYS[1..4] in every script

_SEP = b"\x00"
_EMPTY = b"empty"  # a channel listed in new_versions without a value (as InMemorySaver does)
_RECORD_REFS_AT = 5  # record = [cp type, cp, metadata type, metadata, parent id, refs...]
_PREFIX_SHAPE = re.compile(r"^[A-Za-z0-9_.:-]+$")

# --- Lua ---------------------------------------------------------------------------------------
# KEYS are always the thread's four keys in KEY_KINDS order. Records are netstrings; refs start at
# item 6 (Lua is 1-based; `_RECORD_REFS_AT` above). "\0" ends a namespace in members and fields.
_LUA_HELPERS = """
local function decode(s)
  local out, pos, size = {}, 1, #s
  while pos <= size do
    local colon = string.find(s, ":", pos, true)
    local len = tonumber(string.sub(s, pos, colon - 1))
    out[#out + 1] = string.sub(s, colon + 1, colon + len)
    pos = colon + len + 1
  end
  return out
end

local function encode(items)
  local parts = {}
  for i = 1, #items do parts[i] = #items[i] .. ":" .. items[i] end
  return table.concat(parts)
end

local function touch(ttl)
  for i = 1, #KEYS do redis.call("PEXPIRE", KEYS[i], ttl) end
end

local function del_fields(cmd, key, fields)
  for i = 1, #fields, 1000 do
    redis.call(cmd, key, unpack(fields, i, math.min(i + 999, #fields)))
  end
end

local function space_of(field)
  return string.sub(field, 1, string.find(field, "\\0", 1, true))
end

-- Keep the newest checkpoint of each namespace (of `only`, or of all when nil), its writes and
-- the blobs it reads; drop every other checkpoint, write and blob of those namespaces.
local function keep_latest(only)
  local members
  if only then
    members = redis.call("ZRANGEBYLEX", KEYS[1], "[" .. only .. "\\0", "(" .. only .. "\\1")
  else
    members = redis.call("ZRANGE", KEYS[1], 0, -1)
  end
  local spaces, kept, dropped = {}, {}, {}
  for i = 1, #members do
    local space = space_of(members[i])
    spaces[space] = true
    local nxt = members[i + 1]
    if nxt and string.sub(nxt, 1, #space) == space then
      dropped[#dropped + 1] = members[i]
    else
      kept[members[i]] = true
    end
  end
  if #dropped > 0 then
    del_fields("ZREM", KEYS[1], dropped)
    del_fields("HDEL", KEYS[2], dropped)
  end
  local stale = {}
  for _, field in ipairs(redis.call("HKEYS", KEYS[4])) do
    if spaces[space_of(field)] and not kept[field] then stale[#stale + 1] = field end
  end
  if #stale > 0 then del_fields("HDEL", KEYS[4], stale) end
  local live = {}
  for member in pairs(kept) do
    local record = redis.call("HGET", KEYS[2], member)
    if record then
      local space, items = space_of(member), decode(record)
      for i = 6, #items do live[space .. items[i]] = true end
    end
  end
  stale = {}
  for _, field in ipairs(redis.call("HKEYS", KEYS[3])) do
    if spaces[space_of(field)] and not live[field] then stale[#stale + 1] = field end
  end
  if #stale > 0 then del_fields("HDEL", KEYS[3], stale) end
end
"""

# ARGV: ns, checkpoint id, record, ttl ms, shallow ("1"/"0"), then (channel\0version, blob) pairs.
PUT_SCRIPT = _LUA_HELPERS + """
local ns = ARGV[1]
local member = ns .. "\\0" .. ARGV[2]
redis.call("HSET", KEYS[2], member, ARGV[3])
redis.call("ZADD", KEYS[1], 0, member)
if #ARGV > 5 then
  local pairs_ = {}
  for i = 6, #ARGV, 2 do
    pairs_[#pairs_ + 1] = ns .. "\\0" .. ARGV[i]
    pairs_[#pairs_ + 1] = ARGV[i + 1]
  end
  redis.call("HSET", KEYS[3], unpack(pairs_))
end
if ARGV[5] == "1" then keep_latest(ns) end
touch(ARGV[4])
return 1
"""

# ARGV: member, ttl ms, then per write: task id, idx, channel, type, value, task path.
# A regular write (idx >= 0) already stored is kept; a special one (idx < 0) is replaced.
PUT_WRITES_SCRIPT = _LUA_HELPERS + """
local current = redis.call("HGET", KEYS[4], ARGV[1])
local entries = {}
if current then entries = decode(current) end
local at = {}
for i = 1, #entries, 6 do at[entries[i] .. "\\0" .. entries[i + 1]] = i end
for j = 3, #ARGV, 6 do
  local key = ARGV[j] .. "\\0" .. ARGV[j + 1]
  local i = at[key]
  if i == nil or tonumber(ARGV[j + 1]) < 0 then
    if i == nil then
      i = #entries + 1
      at[key] = i
    end
    for k = 0, 5 do entries[i + k] = ARGV[j + k] end
  end
end
redis.call("HSET", KEYS[4], ARGV[1], encode(entries))
touch(ARGV[2])
return 1
"""

# ARGV: ns, checkpoint id ("" = the newest of ns), ttl ms.
# Reply: nil, or [member, record, writes or nil, blob or nil for each ref of the record].
GET_SCRIPT = _LUA_HELPERS + """
local space = ARGV[1] .. "\\0"
local member = space .. ARGV[2]
if ARGV[2] == "" then
  member = redis.call("ZREVRANGEBYLEX", KEYS[1], "(" .. ARGV[1] .. "\\1", "[" .. space,
                      "LIMIT", 0, 1)[1]
  if not member then return false end
end
local record = redis.call("HGET", KEYS[2], member)
if not record then return false end
touch(ARGV[3])
local reply = {member, record, redis.call("HGET", KEYS[4], member)}
local items = decode(record)
if #items >= 6 then
  local fields = {}
  for i = 6, #items do fields[#fields + 1] = space .. items[i] end
  local blobs = redis.call("HMGET", KEYS[3], unpack(fields))
  for i = 1, #blobs do reply[3 + i] = blobs[i] end
end
return reply
"""

PRUNE_SCRIPT = _LUA_HELPERS + """
keep_latest(nil)
return 1
"""


# --- Pure encoding -----------------------------------------------------------------------------
def encode_items(items: Iterable[bytes]) -> bytes:
    """Netstrings: `<len>:<bytes>` for each item, concatenated."""
    return b"".join(b"%d:%s" % (len(item), item) for item in items)


def decode_items(data: bytes) -> list[bytes]:
    """The inverse of `encode_items`."""
    items: list[bytes] = []
    pos, size = 0, len(data)
    while pos < size:
        colon = data.index(b":", pos)
        end = colon + 1 + int(data[pos:colon])
        items.append(data[colon + 1 : end])
        pos = end
    return items


def _member(ns: str, checkpoint_id: str) -> bytes:
    return ns.encode() + _SEP + checkpoint_id.encode()


def _ref(channel: str, version: Any) -> bytes:
    return channel.encode() + _SEP + str(version).encode()


def _config(thread_id: str, ns: str, checkpoint_id: str) -> RunnableConfig:
    configurable = {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint_id}
    return {"configurable": configurable}


def select_members(
    members: Sequence[bytes],
    *,
    ns: str | None,
    checkpoint_id: str | None,
    before: str | None,
) -> list[tuple[str, str]]:
    """The (ns, checkpoint id) pairs of one thread that `list` returns, newest first."""
    found: list[tuple[str, str]] = []
    for member in members:
        raw_ns, _, raw_id = member.partition(_SEP)
        member_ns, member_id = raw_ns.decode(), raw_id.decode()
        if ns is not None and member_ns != ns:
            continue
        if checkpoint_id is not None and member_id != checkpoint_id:
            continue
        if before is not None and member_id >= before:
            continue
        found.append((member_ns, member_id))
    found.sort(key=lambda pair: pair[1], reverse=True)
    return found


class BaseRedisSaver(BaseCheckpointSaver[str]):
    """Key names, codecs and version numbers shared by the savers; runs no command."""

    def __init__(
        self,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        shallow: bool = True,
        prefix: str = DEFAULT_PREFIX,
        serde: SerializerProtocol | None = None,
    ) -> None:
        super().__init__(serde=serde)
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive: every checkpoint key gets a TTL")
        if not _PREFIX_SHAPE.match(prefix):
            raise ValueError("prefix may hold only letters, digits and _ . : - (no braces)")
        self.ttl_ms = max(1, int(ttl_seconds * 1000))
        self.shallow = shallow
        self.prefix = prefix

    # --- keys ---------------------------------------------------------------------------------
    def thread_keys(self, thread_id: str) -> list[str]:
        """The four keys of a thread, all under the hash tag `{thread_id}`, in script order."""
        if not thread_id or thread_id.startswith("}"):
            # Redis Cluster would hash such keys whole: the thread's keys would land on many slots.
            raise ValueError(f"thread_id {thread_id!r} cannot form a hash tag; use a non-empty id")
        return [f"{self.prefix}:{{{thread_id}}}:{kind}" for kind in KEY_KINDS]

    def scan_pattern(self) -> str:
        """A SCAN pattern matching every thread's index key (used only to list all threads)."""
        return f"{self.prefix}:{{*}}:idx"

    def thread_of_index_key(self, key: bytes | str) -> str | None:
        """The thread id in an index key, or None when the key is not one of ours."""
        text = key.decode() if isinstance(key, bytes) else key
        head, tail = f"{self.prefix}:{{", "}:idx"
        if text.startswith(head) and text.endswith(tail) and len(text) > len(head) + len(tail):
            return text[len(head) : -len(tail)]
        return None

    # --- arguments for the scripts --------------------------------------------------------------
    def put_args(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> list[bytes | str | int]:
        stored = dict(checkpoint)
        values: dict[str, Any] = stored.pop("channel_values", {}) or {}  # type: ignore[assignment]
        cp_type, cp_data = self.serde.dumps_typed(stored)
        md_type, md_data = self.serde.dumps_typed(get_checkpoint_metadata(config, metadata))
        parent = config["configurable"].get("checkpoint_id") or ""
        refs = [_ref(ch, ver) for ch, ver in checkpoint["channel_versions"].items()]
        record = encode_items(
            [cp_type.encode(), cp_data, md_type.encode(), md_data, parent.encode(), *refs]
        )
        args: list[bytes | str | int] = [
            config["configurable"].get("checkpoint_ns", ""),
            checkpoint["id"],
            record,
            self.ttl_ms,
            "1" if self.shallow else "0",
        ]
        for channel, version in new_versions.items():
            if channel in values:
                value_type, value = self.serde.dumps_typed(values[channel])
                blob = encode_items([value_type.encode(), value])
            else:
                blob = encode_items([_EMPTY, b""])
            args += [_ref(channel, version), blob]
        return args

    def put_writes_args(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> list[bytes | str | int]:
        conf = config["configurable"]
        args: list[bytes | str | int] = [
            _member(conf.get("checkpoint_ns", ""), conf["checkpoint_id"]),
            self.ttl_ms,
        ]
        for idx, (channel, value) in enumerate(writes):
            value_type, data = self.serde.dumps_typed(value)
            args += [task_id, str(WRITES_IDX_MAP.get(channel, idx)), channel, value_type, data]
            args.append(task_path)
        return args

    # --- decoding a GET_SCRIPT reply ------------------------------------------------------------
    def load_tuple(
        self,
        thread_id: str,
        reply: Sequence[bytes | None],
        *,
        filter: Mapping[str, Any] | None = None,
    ) -> CheckpointTuple | None:
        """The tuple in a `GET_SCRIPT` reply; None when its metadata does not match `filter`."""
        member, record, raw_writes, *blobs = reply
        assert member is not None and record is not None
        raw_ns, _, raw_id = member.partition(_SEP)
        ns, checkpoint_id = raw_ns.decode(), raw_id.decode()
        items = decode_items(record)
        metadata = self.serde.loads_typed((items[2].decode(), items[3]))
        if filter and not all(metadata.get(k) == v for k, v in filter.items()):
            return None
        checkpoint = self.serde.loads_typed((items[0].decode(), items[1]))
        values: dict[str, Any] = {}
        for ref, blob in zip(items[_RECORD_REFS_AT:], blobs, strict=False):
            if blob is None:
                continue
            value_type, value = decode_items(blob)
            if value_type != _EMPTY:
                values[ref.partition(_SEP)[0].decode()] = self.serde.loads_typed(
                    (value_type.decode(), value)
                )
        parent = items[4].decode()
        return CheckpointTuple(
            config=_config(thread_id, ns, checkpoint_id),
            checkpoint=cast(Checkpoint, {**checkpoint, "channel_values": values}),
            metadata=metadata,
            parent_config=_config(thread_id, ns, parent) if parent else None,
            pending_writes=self.load_writes(raw_writes),
        )

    def load_writes(self, raw: bytes | None) -> list[PendingWrite]:
        """Pending writes in the order live execution applies them (`writes_sort_key`)."""
        if not raw:
            return []
        items = decode_items(raw)
        rows = [items[i : i + 6] for i in range(0, len(items), 6)]
        rows.sort(key=lambda r: writes_sort_key(r[5].decode(), r[0].decode(), int(r[1])))
        return [
            (r[0].decode(), r[2].decode(), self.serde.loads_typed((r[3].decode(), r[4])))
            for r in rows
        ]

    def get_next_version(self, current: str | None, channel: None) -> str:
        """`<counter>.<random>`, zero-padded so versions compare as strings (as InMemorySaver)."""
        if current is None:
            current_v = 0
        elif isinstance(current, int):
            current_v = current
        else:
            current_v = int(current.split(".")[0])
        return f"{current_v + 1:032}.{random.random():016}"
