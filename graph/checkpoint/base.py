"""Storage layout, Lua scripts and pure encoding of the Redis checkpointer; no I/O here.

Why this layout: LangGraph's own Redis saver needs RedisJSON and RediSearch, which plain Redis,
Valkey, ElastiCache, Memorystore and Upstash lack. This one uses core commands only. Every thread
is exactly one hash, named with a hash tag (`<prefix>:{<thread_id>}`), so a thread is refreshed
(`PEXPIRE`), erased (`DEL`) and expired whole by name, without `KEYS` or `SCAN`, and the saver
works on Redis Cluster. Its fields ("\\0" ends a kind and a namespace):

    c\\0<ns>\\0<checkpoint_id>         checkpoint record
    w\\0<ns>\\0<checkpoint_id>         all pending writes of that checkpoint
    b\\0<ns>\\0<channel>\\0<version>   channel value
    n\\0<ns>                         the newest checkpoint of the namespace: its id and refs

One key rather than one per kind, and a newest field rather than a sorted index, because a
script's cost is mostly its `redis.call`s and the values it copies, and LangGraph awaits these
scripts one after another (up to 8 a turn): the get script for the newest checkpoint is HGET +
HMGET + PEXPIRE, a shallow put HGET + HSET + HDEL + PEXPIRE, with no HKEYS and no record cut open.
Checkpoint ids compare as bytes (LangGraph's are monotonic uuid6, so byte order is age order);
`alist`, an admin path, reads the field names of the one thread (`HKEYS`) to find them.

Values are netstrings (`<len>:<bytes>` repeated), because a Lua script can cut them with
`string.find` and no Lua library beyond the core. A checkpoint record starts with its refs (the
`channel\\0version` of every value it reads), so a get by id finds checkpoint, writes and values
in one script too. A put, a put_writes and a get are each one round trip (a script call; for the
newest checkpoint of a shallow thread, HGETALL + PEXPIRE sent together, as such a thread holds
little else and that spares the values' copy into and out of Lua), and each refreshes the
thread's TTL.

Shallow mode keeps the newest checkpoint of each namespace only: a put drops the previous newest
of its namespace with its writes and the values the new one does not read, and writes for an
already superseded checkpoint are not stored. That bounds memory for a chat whose history lives in
the state anyway. `aprune` (`keep_latest`) sweeps every namespace of a thread that has a checkpoint:
older checkpoints, their writes and values, and any leftover (writes of a checkpoint never stored,
a thread first written with `shallow=False`). Shallow mode is not usable with `DeltaChannel` (beta
in LangGraph), which needs ancestor checkpoints.
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
    get_checkpoint_id,
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

_SEP = b"\x00"
_CHECKPOINT_FIELD = b"c\x00"  # how the field of a checkpoint record starts (see the layout)
_EMPTY = b"empty"  # a channel listed in new_versions without a value (as InMemorySaver does)
# record = [refs, cp type, cp, metadata type, metadata, parent id]; refs = [channel\0version...]
_PREFIX_SHAPE = re.compile(r"^[A-Za-z0-9_.:-]+$")

# --- Lua ---------------------------------------------------------------------------------------
# KEYS[1] is always the thread's hash. Records and values are netstrings; a record's first item
# is the netstring list of its `channel\0version` refs.
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

-- The first netstring of s, and where the next one starts.
local function first(s)
  local colon = string.find(s, ":", 1, true)
  local last = colon + tonumber(string.sub(s, 1, colon - 1))
  return string.sub(s, colon + 1, last), last + 1
end

-- Byte order (memcmp), as Lua's `<` follows the server's locale.
local function older(a, b)
  if a == b then return false end
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

local function del_fields(key, fields)
  for i = 1, #fields, 1000 do
    redis.call("HDEL", key, unpack(fields, i, math.min(i + 999, #fields)))
  end
end
"""

# ARGV: ns, checkpoint id, record, ttl ms, shallow ("1"/"0"), refs of the record, then
# (channel\0version, blob) pairs. The newest field holds [id, refs], so that neither a get of the
# newest checkpoint nor a shallow put needs to read a record to find the values it reads.
PUT_SCRIPT = _LUA_HELPERS + """
local ns, id, refs, shallow = ARGV[1], ARGV[2], ARGV[6], ARGV[5] == "1"
local space = ns .. "\\0"
local newest_field = "n\\0" .. ns
local current = redis.call("HGET", KEYS[1], newest_field)
local newest, newest_refs, superseded = nil, nil, false
if current then
  local at
  newest, at = first(current)
  newest_refs = first(string.sub(current, at))
  superseded = older(id, newest)
end
if shallow and superseded then
  -- Older than the checkpoint kept: shallow mode would drop it at once.
  redis.call("PEXPIRE", KEYS[1], ARGV[4])
  return 0
end
local fields = {"c\\0" .. space .. id, ARGV[3]}
if not superseded then
  fields[3], fields[4] = newest_field, #id .. ":" .. id .. #refs .. ":" .. refs
end
for i = 7, #ARGV, 2 do
  fields[#fields + 1] = "b\\0" .. space .. ARGV[i]
  fields[#fields + 1] = ARGV[i + 1]
end
redis.call("HSET", KEYS[1], unpack(fields))
if shallow and newest then
  -- Drop the previous newest (its record and writes, unless it is this very checkpoint put
  -- again) and the values it read that this one does not.
  local stale, live = {}, {}
  if newest ~= id then
    stale[1], stale[2] = "c\\0" .. space .. newest, "w\\0" .. space .. newest
  end
  for _, ref in ipairs(decode(refs)) do live[ref] = true end
  for _, ref in ipairs(decode(newest_refs)) do
    if not live[ref] then stale[#stale + 1] = "b\\0" .. space .. ref end
  end
  if #stale > 0 then del_fields(KEYS[1], stale) end
end
redis.call("PEXPIRE", KEYS[1], ARGV[4])
return 1
"""

# ARGV: ns, checkpoint id, ttl ms, shallow ("1"/"0"), then per write: task id, idx, channel, type,
# value, task path. A regular write (idx >= 0) already stored is kept; a special one (idx < 0) is
# replaced. In shallow mode, writes for a checkpoint older than the newest of its namespace are
# not stored: that checkpoint is gone (a put can overtake the writes of its parent's tasks).
PUT_WRITES_SCRIPT = _LUA_HELPERS + """
if ARGV[4] == "1" then
  local current = redis.call("HGET", KEYS[1], "n\\0" .. ARGV[1])
  if current and older(ARGV[2], (first(current))) then
    redis.call("PEXPIRE", KEYS[1], ARGV[3])
    return 0
  end
end
local field = "w\\0" .. ARGV[1] .. "\\0" .. ARGV[2]
local current = redis.call("HGET", KEYS[1], field)
local entries = {}
if current then entries = decode(current) end
local at = {}
for i = 1, #entries, 6 do at[entries[i] .. "\\0" .. entries[i + 1]] = i end
for j = 5, #ARGV, 6 do
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
redis.call("HSET", KEYS[1], field, encode(entries))
redis.call("PEXPIRE", KEYS[1], ARGV[3])
return 1
"""

# ARGV: ns, checkpoint id ("" = the newest of ns), ttl ms.
# Reply: nil, or [checkpoint id, record, writes or nil, blob or nil for each ref of the record].
GET_SCRIPT = _LUA_HELPERS + """
local space = ARGV[1] .. "\\0"
local id, refs, got = ARGV[2], nil, nil
if id == "" then
  -- One HMGET for record, writes and values: the newest field lists the values to read.
  local current = redis.call("HGET", KEYS[1], "n\\0" .. ARGV[1])
  if not current then return false end
  local at
  id, at = first(current)
  refs = decode((first(string.sub(current, at))))
  local fields = {"c\\0" .. space .. id, "w\\0" .. space .. id}
  for i = 1, #refs do fields[i + 2] = "b\\0" .. space .. refs[i] end
  got = redis.call("HMGET", KEYS[1], unpack(fields))
  if not got[1] then return false end
else
  got = redis.call("HMGET", KEYS[1], "c\\0" .. space .. id, "w\\0" .. space .. id)
  if not got[1] then return false end
  refs = decode((first(got[1])))
  if #refs > 0 then
    local fields = {}
    for i = 1, #refs do fields[i] = "b\\0" .. space .. refs[i] end
    local blobs = redis.call("HMGET", KEYS[1], unpack(fields))
    for i = 1, #blobs do got[2 + i] = blobs[i] end
  end
end
redis.call("PEXPIRE", KEYS[1], ARGV[3])
table.insert(got, 1, id)
return got
"""

# Keep the newest checkpoint of every namespace that has one, its writes and the values it reads;
# drop every other record, write and value of those namespaces. Does not refresh the TTL.
PRUNE_SCRIPT = _LUA_HELPERS + """
local fields = redis.call("HKEYS", KEYS[1])
local newest = {}
for _, field in ipairs(fields) do
  if string.sub(field, 1, 2) == "c\\0" then
    local cut = string.find(field, "\\0", 3, true)
    local ns, id = string.sub(field, 3, cut - 1), string.sub(field, cut + 1)
    if newest[ns] == nil or older(newest[ns], id) then newest[ns] = id end
  end
end
local live = {}
for ns, id in pairs(newest) do
  local space = ns .. "\\0"
  live["c\\0" .. space .. id], live["w\\0" .. space .. id], live["n\\0" .. ns] = true, true, true
  local refs = first(redis.call("HGET", KEYS[1], "c\\0" .. space .. id))
  for _, ref in ipairs(decode(refs)) do live["b\\0" .. space .. ref] = true end
  redis.call("HSET", KEYS[1], "n\\0" .. ns, #id .. ":" .. id .. #refs .. ":" .. refs)
end
local stale = {}
for _, field in ipairs(fields) do
  local cut = string.find(field, "\\0", 3, true)
  local ns = cut and string.sub(field, 3, cut - 1) or string.sub(field, 3)
  if newest[ns] ~= nil and not live[field] then stale[#stale + 1] = field end
end
if #stale > 0 then del_fields(KEYS[1], stale) end
return 1
"""


# --- Pure encoding -----------------------------------------------------------------------------
def encode_items(items: Iterable[bytes]) -> bytes:
    """Netstrings: `<len>:<bytes>` for each item, concatenated."""
    return b"".join([b"%d:%b" % (len(item), item) for item in items])


def decode_items(data: bytes) -> list[bytes]:
    """The inverse of `encode_items`."""
    items: list[bytes] = []
    pos, size = 0, len(data)
    index = data.index
    while pos < size:
        colon = index(b":", pos)
        end = colon + 1 + int(data[pos:colon])
        items.append(data[colon + 1 : end])
        pos = end
    return items


def _config(thread_id: str, ns: str, checkpoint_id: str) -> RunnableConfig:
    configurable = {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint_id}
    return {"configurable": configurable}


def select_checkpoints(
    fields: Sequence[bytes],
    *,
    ns: str | None,
    checkpoint_id: str | None,
    before: str | None,
) -> list[tuple[str, str]]:
    """The (ns, checkpoint id) pairs that `list` returns, newest first, from the field names of
    one thread's hash."""
    found: list[tuple[str, str]] = []
    for field in fields:
        if not field.startswith(_CHECKPOINT_FIELD):
            continue
        raw_ns, _, raw_id = field[len(_CHECKPOINT_FIELD) :].partition(_SEP)
        member_ns, member_id = raw_ns.decode(), raw_id.decode()
        if ns is not None and member_ns != ns:
            continue
        if checkpoint_id is not None and member_id != checkpoint_id:
            continue
        if before is not None and member_id >= before:
            continue
        found.append((member_ns, member_id))
    found.sort(key=lambda pair: pair[1].encode(), reverse=True)  # byte order, as the scripts
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
        self._ttl_arg = str(self.ttl_ms).encode()
        self._shallow_arg = b"1" if shallow else b"0"

    # --- keys ---------------------------------------------------------------------------------
    def thread_key(self, thread_id: str) -> str:
        """The one key of a thread, `<prefix>:{<thread_id>}` (a hash tag, for Redis Cluster)."""
        if not thread_id or thread_id.startswith("}"):
            # An empty hash tag: Redis Cluster would hash the whole name instead of the thread id.
            raise ValueError(f"thread_id {thread_id!r} cannot form a hash tag; use a non-empty id")
        return f"{self.prefix}:{{{thread_id}}}"

    def packed_key(self, thread_id: str) -> bytes:
        """The thread's key as a RESP bulk string, ready to go into a request."""
        key = self.thread_key(thread_id).encode()
        return b"$%d\r\n%b\r\n" % (len(key), key)

    def scan_pattern(self) -> str:
        """A SCAN pattern matching every thread's key (used only to list all threads)."""
        return f"{self.prefix}:{{*}}"

    def thread_of_key(self, key: bytes | str) -> str | None:
        """The thread id in a thread's key, or None when the key is not one of ours."""
        text = key.decode() if isinstance(key, bytes) else key
        head = f"{self.prefix}:{{"
        if text.startswith(head) and text.endswith("}") and len(text) > len(head) + 1:
            return text[len(head) : -1]
        return None

    # --- arguments for the scripts --------------------------------------------------------------
    def get_args(self, config: RunnableConfig) -> list[bytes]:
        conf = config["configurable"]
        checkpoint_id = get_checkpoint_id(config) or ""
        return [conf.get("checkpoint_ns", "").encode(), checkpoint_id.encode(), self._ttl_arg]

    def put_args(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> list[bytes]:
        dumps = self.serde.dumps_typed
        stored = dict(checkpoint)
        values: dict[str, Any] = stored.pop("channel_values", None) or {}  # type: ignore[assignment]
        cp_type, cp_data = dumps(stored)
        md_type, md_data = dumps(get_checkpoint_metadata(config, metadata))
        conf = config["configurable"]
        parent = conf.get("checkpoint_id") or ""
        refs = encode_items(
            [
                b"%b\x00%b" % (ch.encode(), str(ver).encode())
                for ch, ver in checkpoint["channel_versions"].items()
            ]
        )
        record = encode_items(
            [refs, cp_type.encode(), cp_data, md_type.encode(), md_data, parent.encode()]
        )
        args = [
            conf.get("checkpoint_ns", "").encode(),
            checkpoint["id"].encode(),
            record,
            self._ttl_arg,
            self._shallow_arg,
            refs,
        ]
        for channel, version in new_versions.items():
            if channel in values:
                value_type, value = dumps(values[channel])
                blob = b"%d:%b%d:%b" % (len(value_type), value_type.encode(), len(value), value)
            else:
                blob = b"5:empty0:"
            args += (b"%b\x00%b" % (channel.encode(), str(version).encode()), blob)
        return args

    def put_writes_args(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> list[bytes]:
        conf = config["configurable"]
        args = [
            conf.get("checkpoint_ns", "").encode(),
            conf["checkpoint_id"].encode(),
            self._ttl_arg,
            self._shallow_arg,
        ]
        task, path = task_id.encode(), task_path.encode()
        for idx, (channel, value) in enumerate(writes):
            value_type, data = self.serde.dumps_typed(value)
            index = str(WRITES_IDX_MAP.get(channel, idx)).encode()
            args += (task, index, channel.encode(), value_type.encode(), data, path)
        return args

    # --- decoding a GET_SCRIPT reply ------------------------------------------------------------
    @staticmethod
    def newest_in_fields(
        ns: str, fields: Mapping[bytes, bytes] | Sequence[bytes]
    ) -> list[bytes | None] | None:
        """A `GET_SCRIPT` reply for the newest checkpoint of `ns`, from a thread's whole hash
        (HGETALL: a map in RESP3, field, value... in RESP2); None when the namespace has none."""
        if not isinstance(fields, Mapping):
            fields = dict(zip(fields[::2], fields[1::2], strict=True))
        space = ns.encode() + _SEP
        newest = fields.get(b"n\x00" + ns.encode())
        if newest is None:
            return None
        raw_id, raw_refs = decode_items(newest)
        record = fields.get(b"c\x00" + space + raw_id)
        if record is None:
            return None
        reply = [raw_id, record, fields.get(b"w\x00" + space + raw_id)]
        reply += [fields.get(b"b\x00" + space + ref) for ref in decode_items(raw_refs)]
        return reply

    def load_tuple(
        self,
        thread_id: str,
        ns: str,
        reply: Sequence[bytes | None],
        *,
        filter: Mapping[str, Any] | None = None,
    ) -> CheckpointTuple | None:
        """The tuple in a `GET_SCRIPT` reply; None when its metadata does not match `filter`."""
        raw_id, record, raw_writes, *blobs = reply
        assert raw_id is not None and record is not None
        refs, cp_type, cp_data, md_type, md_data, raw_parent = decode_items(record)
        loads = self.serde.loads_typed
        metadata = loads((md_type.decode(), md_data))
        if filter and not all(metadata.get(k) == v for k, v in filter.items()):
            return None
        checkpoint = loads((cp_type.decode(), cp_data))
        values: dict[str, Any] = {}
        for ref, blob in zip(decode_items(refs), blobs, strict=False):
            if blob is None:
                continue
            value_type, value = decode_items(blob)
            if value_type != _EMPTY:
                values[ref.partition(_SEP)[0].decode()] = loads((value_type.decode(), value))
        checkpoint["channel_values"] = values
        parent = raw_parent.decode()
        return CheckpointTuple(
            config=_config(thread_id, ns, raw_id.decode()),
            checkpoint=cast(Checkpoint, checkpoint),
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
