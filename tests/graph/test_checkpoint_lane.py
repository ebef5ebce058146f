"""Pins every redis-py internal that the checkpointer's `_ScriptLane` relies on.

The lane (`graph.checkpoint.aio`) leases connections from the client's pool and sends hand-packed
requests on them, because redis-py's public call path costs a turn materially more (figures in
that module's docstring). Those are not redis-py's public API, so an upgrade may change them
without notice. Each test here names what the lane relies on and fails with a message saying so;
when one fails, adapt the lane, or drop it for the public API if `python -m
bench.bench_checkpointer` shows its "public API" row no longer costs a turn much.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, NoReturn
from uuid import uuid4

import pytest
import redis as redis_py
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

from core.connections import COMMAND_TIMEOUT_SECONDS, open_redis
from graph.checkpoint.aio import _bulk, _Script, _ScriptLane


def _changed(what: str) -> str:
    """The failure message: what changed, and what to do about it."""
    return (
        f"redis-py {redis_py.__version__} changed an internal that graph/checkpoint/aio.py's "
        f"_ScriptLane relies on: {what}. Adapt the lane to it, or replace the lane by redis-py's "
        "public API (see the module docstring of graph.checkpoint.aio)."
    )


def _command(*parts: bytes) -> bytes:
    """One request in RESP, packed as the lane packs them."""
    return b"*%d\r\n" % len(parts) + b"".join(_bulk(part) for part in parts)


def _takes_no_required_arguments(func: Any) -> bool:
    return all(
        p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        for p in inspect.signature(func).parameters.values()
    )


async def test_the_pool_lends_connections_and_takes_them_back(redis: aioredis.Redis) -> None:
    pool = redis.connection_pool
    assert inspect.iscoroutinefunction(pool.get_connection), _changed(
        "ConnectionPool.get_connection is no longer a coroutine function"
    )
    assert _takes_no_required_arguments(pool.get_connection), _changed(
        "ConnectionPool.get_connection() now requires arguments"
    )
    assert inspect.iscoroutinefunction(pool.release), _changed(
        "ConnectionPool.release is no longer a coroutine function"
    )
    conn = await pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        assert conn.is_connected, _changed("get_connection() hands out an unconnected connection")
    finally:
        await pool.release(conn)


async def test_the_client_settings_the_lane_reads_are_in_connection_kwargs(redis_url: str) -> None:
    client = open_redis(redis_url)
    decoding = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        kwargs = client.connection_pool.connection_kwargs
        assert kwargs.get("socket_timeout") == COMMAND_TIMEOUT_SECONDS, _changed(
            "ConnectionPool.connection_kwargs no longer holds the client's socket_timeout"
        )
        assert decoding.connection_pool.connection_kwargs.get("decode_responses") is True, _changed(
            "ConnectionPool.connection_kwargs no longer holds decode_responses"
        )
        conn = await client.connection_pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            assert conn.socket_timeout == COMMAND_TIMEOUT_SECONDS, _changed(
                "a connection no longer keeps its deadline in `socket_timeout`"
            )
        finally:
            await client.connection_pool.release(conn)
    finally:
        await client.aclose()
        await decoding.aclose()


def test_send_and_read_take_their_deadline_from_socket_timeout() -> None:
    # The lane sets `conn.socket_timeout = None` and bounds each exchange itself, which spares
    # the task `asyncio.wait_for` starts on every send; that holds only while these two methods
    # read the attribute.
    connection = aioredis.Connection
    for method in ("send_packed_command", "read_response"):
        source = inspect.getsource(getattr(connection, method))
        assert "self.socket_timeout" in source, _changed(
            f"Connection.{method} no longer takes its deadline from `self.socket_timeout`"
        )


async def test_packed_requests_get_parsed_replies_and_errors_keep_the_connection(
    redis: aioredis.Redis,
) -> None:
    key = f"lane:{{{uuid4()}}}".encode()
    pool = redis.connection_pool
    conn = await pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        # Several commands in one packed request (the lane's HGETALL + PEXPIRE), read one by one.
        await conn.send_packed_command(
            _command(b"HSET", key, b"f", b"v")
            + _command(b"HGETALL", key)
            + _command(b"PEXPIRE", key, b"60000")
            + _command(b"HGET", key, b"missing")
        )
        assert await conn.read_response() == 1
        fields = await conn.read_response()
        assert fields in ({b"f": b"v"}, [b"f", b"v"]), _changed(
            f"read_response() returns HGETALL as {fields!r}, neither a map (RESP3) nor a flat "
            "list (RESP2); BaseRedisSaver.newest_in_fields reads those two"
        )
        assert await conn.read_response() == 1
        assert await conn.read_response() is None, _changed("a nil reply is no longer None")

        # An error reply raises, and the connection stays usable: the lane reads every reply of
        # a request before it raises, and loads a missing script on the same connection.
        await conn.send_packed_command(_command(b"HGET", key) + _command(b"PING"))
        with pytest.raises(ResponseError):
            await conn.read_response()
        assert await conn.read_response() in (b"PONG", "PONG", True)
        missing = _Script(f"return 1 -- {uuid4()}")
        await conn.send_packed_command(missing.request(_bulk(key), ()))
        try:
            await conn.read_response()
        except NoScriptError:
            pass
        else:
            pytest.fail(_changed("EVALSHA of an unknown script no longer raises NoScriptError"))
        assert conn.is_connected, _changed("an error reply now disconnects the connection")
        await conn.send_packed_command(_command(b"SCRIPT", b"LOAD", missing.source))
        await conn.read_response()
        await conn.send_packed_command(missing.request(_bulk(key), ()))
        assert await conn.read_response() == 1
    finally:
        await pool.release(conn)


async def test_the_retry_policy_hands_the_error_to_the_failure_callback(
    redis: aioredis.Redis,
) -> None:
    conn = await redis.connection_pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        assert isinstance(conn.retry, Retry), _changed("a connection's `retry` is not a Retry")
        failed: list[Exception] = []

        async def fail(error: Exception) -> None:
            failed.append(error)

        async def connection_lost() -> NoReturn:
            raise RedisConnectionError("lost")

        with pytest.raises(RedisConnectionError):
            await conn.retry.call_with_retry(connection_lost, fail)
        assert len(failed) == conn.retry.get_retries() + 1, _changed(
            "call_with_retry(do, fail) no longer calls `fail` once per failed try"
        )
        assert isinstance(failed[0], RedisConnectionError), _changed(
            "call_with_retry(do, fail) no longer passes the error alone to `fail`"
        )

        # An error reply is not retried (nor is the connection dropped for it).
        async def error_reply() -> NoReturn:
            raise ResponseError("WRONGTYPE")

        failed.clear()
        with pytest.raises(ResponseError):
            await conn.retry.call_with_retry(error_reply, fail)
        assert failed == [], _changed("call_with_retry now calls `fail` for an error reply")

        # With retries, `do` runs again after `fail`.
        tries: list[int] = []

        async def flaky() -> str:
            tries.append(1)
            if len(tries) == 1:
                raise RedisConnectionError("lost")
            return "ok"

        assert await Retry(NoBackoff(), 1).call_with_retry(flaky, fail) == "ok", _changed(
            "call_with_retry(do, fail) no longer runs `do` again after a retryable error"
        )
    finally:
        await redis.connection_pool.release(conn)


async def test_a_cancelled_exchange_disconnects_and_the_next_send_reconnects(
    redis: aioredis.Redis,
) -> None:
    conn = await redis.connection_pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        conn.socket_timeout = None  # as the lane runs it
        # A deadline already past: the read is cancelled at its first wait, as the lane's
        # `asyncio.timeout` cancels a late reply. redis-py must drop the connection, or that
        # late reply would be read as the answer to the next request.
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0):
                await conn.read_response()
        assert not conn.is_connected, _changed(
            "a read cancelled mid-way no longer disconnects the connection"
        )
        await conn.send_packed_command(_command(b"PING"))
        assert await conn.read_response() in (b"PONG", "PONG", True), _changed(
            "send_packed_command() no longer reconnects a disconnected connection"
        )
    finally:
        conn.socket_timeout = COMMAND_TIMEOUT_SECONDS
        await redis.connection_pool.release(conn)


async def test_a_connection_the_server_closed_raises_connection_error(
    redis: aioredis.Redis,
) -> None:
    conn = await redis.connection_pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        await conn.send_packed_command(_command(b"CLIENT", b"ID"))
        client_id = await conn.read_response()
        assert await redis.client_kill_filter(_id=str(client_id)) == 1
        # The lane retries a kept connection once on exactly this error.
        with pytest.raises(RedisConnectionError):
            await conn.send_packed_command(_command(b"PING"))
            await conn.read_response()
        await conn.disconnect()
        await conn.send_packed_command(_command(b"PING"))
        assert await conn.read_response() in (b"PONG", "PONG", True)
    finally:
        await redis.connection_pool.release(conn)


async def test_closing_the_client_disconnects_the_connections_the_lane_keeps(
    redis_url: str,
) -> None:
    client = open_redis(redis_url)
    lane = _ScriptLane(client)
    ping = _Script("return 1")
    assert await lane.run(ping.request(_bulk(b"lane:{close}"), ()), script=ping) == 1
    kept = list(lane._idle)
    assert kept
    await client.aclose()
    assert not any(conn.is_connected for conn in kept), _changed(
        "Redis.aclose() no longer disconnects the pool's connections in use"
    )
