"""`DecodeSandbox`: jobs run in a child process that a hostile file cannot turn against the
service: a loop is killed at the deadline while the event loop goes on, an allocation beyond
the memory limit fails in the child, a crash or a forged answer is a `DecodeFailed`."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from pipeline.sandbox import JOB_MODULES, DecodeFailed, DecodeSandbox, DecodeTimeout
from tests.utils import hostile_jobs

MiB = 1024 * 1024


@pytest.fixture
def sandbox() -> DecodeSandbox:
    return DecodeSandbox(
        timeout_seconds=1.0, memory_bytes=512 * MiB,
        job_modules=JOB_MODULES | {"tests.utils.hostile_jobs"},
    )


async def test_a_job_runs_in_the_child_and_returns_its_result(sandbox: DecodeSandbox) -> None:
    assert await sandbox.run(hostile_jobs.echo, b"frame", suffix=b"s") == b"frames"


async def test_a_job_in_a_loop_is_killed_at_the_deadline_and_the_loop_goes_on(
    sandbox: DecodeSandbox, redis: aioredis.Redis
) -> None:
    job = asyncio.ensure_future(sandbox.run(hostile_jobs.spin))
    other = asyncio.ensure_future(redis.ping())  # I/O of the service while the job spins
    done, _ = await asyncio.wait({job, other}, return_when=asyncio.FIRST_COMPLETED)
    assert other in done and not job.done()  # the event loop was not held by the job
    with pytest.raises(DecodeTimeout, match="MEDIA_DECODE_TIMEOUT_SECONDS"):
        await job
    assert await sandbox.run(hostile_jobs.echo, b"next") == b"next"  # the sandbox still works


async def test_an_allocation_beyond_the_memory_limit_fails_in_the_child(
    sandbox: DecodeSandbox,
) -> None:
    with pytest.raises(DecodeFailed, match="MemoryError"):
        await sandbox.run(hostile_jobs.hog, 1024)  # twice the limit
    assert await sandbox.run(hostile_jobs.hog, 64) == 64 * MiB  # within the limit: fine


async def test_a_crash_in_the_child_is_a_decode_failure(sandbox: DecodeSandbox) -> None:
    with pytest.raises(DecodeFailed, match="died without an answer"):
        await sandbox.run(hostile_jobs.crash)


async def test_a_refusal_crosses_the_process_boundary_as_it_is(sandbox: DecodeSandbox) -> None:
    with pytest.raises(hostile_jobs.Refused) as raised:
        await sandbox.run(hostile_jobs.refuse, "password-protected")
    assert raised.value.reason == "password-protected"


async def test_an_answer_that_would_run_code_in_the_parent_is_refused(
    sandbox: DecodeSandbox,
) -> None:
    with pytest.raises(DecodeFailed, match="something other than a decoding result"):
        await sandbox.run(hostile_jobs.forged_answer)


async def test_only_decoding_modules_run_as_jobs() -> None:
    with pytest.raises(ValueError, match="not a decoding job"):
        await DecodeSandbox().run(hostile_jobs.echo, b"x")


async def test_a_cancelled_caller_kills_its_child(sandbox: DecodeSandbox) -> None:
    sandbox.timeout_seconds = 60.0
    job = asyncio.ensure_future(sandbox.run(hostile_jobs.spin))
    for _ in range(1000):  # yields only, until the child exists: no sleeping for time
        if _decoding_children():
            break
        await asyncio.sleep(0)
    assert _decoding_children()
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    assert not _decoding_children()
    assert await sandbox.run(hostile_jobs.echo, b"free") == b"free"  # its slot was given back


def _decoding_children() -> list[int]:
    """Ids of this process's children that run a decoding job (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rpartition(")")[2].split()[1])
        if parent == os.getpid() and b"child_main" in command:
            found.append(int(entry.name))
    return found
