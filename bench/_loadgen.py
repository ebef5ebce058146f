"""A small HTTP/1.1 load generator for the pipeline bench, run as its own process.

`python -m bench._loadgen` reads one job (JSON) on stdin and writes one result (JSON) on stdout.
It lives in its own process so that the client never competes with the stand-ins or the
measuring code for one interpreter lock, and it speaks raw HTTP/1.1 over keep-alive connections
(asyncio streams, uvloop when installed) because httpx costs more CPU per request than the
server under test, which would make the client the bottleneck on a 2-core machine.

Job: `{"port": int, "path": str, "concurrency": int, "mode": "closed" | "open",
"requests": [{"at": seconds, "body": str, "headers": {name: value}}]}`. Closed: `concurrency`
loops send back to back (throughput at saturation). Open: each request is sent at `at` seconds
after the start, on a free connection; its latency counts from that scheduled moment, so a client
that falls behind does not hide the server's queueing (no coordinated omission).

Result: `{"start": wall, "end": wall, "results": [[scheduled, sent, done, status], ...]}` with wall
clock times (`time.time()`, comparable with the parent process), in request order.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

__all__ = ["main"]

HOST = "127.0.0.1"


class Connection:
    """One keep-alive connection; reconnects once when the server closed it meanwhile."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port)

    async def request(self, raw: bytes) -> int:
        for attempt in (1, 2):
            if self.writer is None:
                await self._open()
            assert self.reader is not None and self.writer is not None
            try:
                self.writer.write(raw)
                head = await self.reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if length:
                    await self.reader.readexactly(length)
                if b"connection: close" in head.lower():
                    await self.close()
                return status
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass
        self.reader = self.writer = None


def _raw(port: int, path: str, body: str, headers: dict[str, str]) -> bytes:
    data = body.encode()
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {HOST}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(data)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


async def _send(conn: Connection, raw: bytes, scheduled: float, out: list[Any], i: int) -> None:
    sent = time.time()
    try:
        status = await conn.request(raw)
    except (OSError, asyncio.IncompleteReadError):
        status = 0
    out[i] = [scheduled, sent, time.time(), status]


async def run(job: dict[str, Any]) -> dict[str, Any]:
    port, path = int(job["port"]), str(job["path"])
    requests = job["requests"]
    raws = [_raw(port, path, r["body"], r.get("headers", {})) for r in requests]
    conns = [Connection(port) for _ in range(int(job["concurrency"]))]
    for conn in conns:
        await conn._open()
    out: list[Any] = [None] * len(raws)
    start = time.time()
    if job["mode"] == "closed":
        order = iter(range(len(raws)))

        async def loop(conn: Connection) -> None:
            for i in order:
                await _send(conn, raws[i], time.time(), out, i)

        await asyncio.gather(*(loop(conn) for conn in conns))
    else:
        free: asyncio.Queue[Connection] = asyncio.Queue()
        for conn in conns:
            free.put_nowait(conn)
        tasks: list[asyncio.Task[None]] = []

        async def one(conn: Connection, i: int, scheduled: float) -> None:
            try:
                await _send(conn, raws[i], scheduled, out, i)
            finally:
                free.put_nowait(conn)

        for i in sorted(range(len(raws)), key=lambda n: float(requests[n]["at"])):
            scheduled = start + float(requests[i]["at"])
            delay = scheduled - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            conn = await free.get()
            tasks.append(asyncio.create_task(one(conn, i, scheduled)))
        await asyncio.gather(*tasks)
    end = time.time()
    for conn in conns:
        await conn.close()
    return {"start": start, "end": end, "results": out}


def main() -> None:
    job = json.loads(sys.stdin.read())
    try:
        import uvloop

        result = uvloop.run(run(job))
    except ImportError:
        result = asyncio.run(run(job))
    sys.stdout.write(json.dumps(result))


if __name__ == "__main__":
    main()
