"""Untrusted media decoded in a child process of its own, bounded in time and memory.

Leads send any file, and a crafted one (a video declaring 30,000 x 30,000 frames, a stream that
sends a decoder into a loop, a zip bomb dressed as a spreadsheet) must not stall or starve the
service. A thread keeps the event loop free, but it can neither be stopped nor have its memory
capped. So `DecodeSandbox.run(job, ...)` runs each job in a new Python process
(`asyncio.create_subprocess_exec`, no thread involved):

- Memory: the child sets `RLIMIT_AS` to `memory_bytes` first thing; an allocation beyond fails
  inside the child (MemoryError, or an error from FFmpeg), which ends that job only.
- Time: the parent waits `timeout_seconds` for the answer, then kills the child (SIGKILL). The
  child also has `RLIMIT_CPU` just above the timeout, so the kernel ends it if the parent cannot.
- Concurrency: at most `concurrency` children at once (a semaphore), so a burst of videos cannot
  take every core from the webhooks. A cancelled caller kills its child.
- Secrets: the child gets an environment without the service's (no API keys or tokens), and the
  parent reads its answer with an unpickler that builds only the result and refusal types of the
  decoding modules, so a child that a crafted file took over cannot make the parent run code.

Why a new process per job and not a pool: a job that is killed takes nothing else with it, and no
memory a hostile file made a decoder allocate outlives its job. The price is start-up: the child
imports only what its job needs (PyAV ~0.1 s, python-docx ~0.2 s, openpyxl ~0.3 s, pypdf ~0.4 s
on this project's machines). `multiprocessing` (spawn or forkserver) was the other choice; its
children import the parent's `__main__` again (for `python -m server`, the whole app) on every
start, and fork from a threaded event loop is unsafe.

A job is a module-level function of `JOB_MODULES` (the child imports it by name) whose arguments
pickle and whose result is built of plain values and those modules' dataclasses.

Errors, one tree:

    DecodeError             the job gave no result
    ├── DecodeTimeout       it did not finish within `timeout_seconds` (the child was killed)
    └── DecodeFailed        it raised, or the child died (memory limit, a crash in a decoder)

`MediaRefused` is the base of what a job raises on purpose for a file it read and will not use
(a video too long, a password-protected document); those cross the process boundary as they are.
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
import os
import pickle
import resource
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "JOB_MODULES",
    "DecodeError",
    "DecodeFailed",
    "DecodeSandbox",
    "DecodeTimeout",
    "MediaRefused",
]

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

JOB_MODULES = frozenset({
    "pipeline.audio_convert", "pipeline.documents", "pipeline.video", "pipeline.sandbox",
})
"""The modules whose functions may run as jobs and whose types an answer may hold."""

_ROOT = Path(__file__).resolve().parent.parent  # the project: where `pipeline` is importable from
_CHILD = "from pipeline.sandbox import child_main; child_main()"
_KEPT_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")


class MediaRefused(Exception):  # noqa: N818 - a refusal, not a bug
    """A file a job read and will not use. Its `args` must be its constructor's arguments, so
    that it pickles across the process boundary."""


class DecodeError(Exception):
    """A decoding job gave no result."""


class DecodeTimeout(DecodeError):
    """The job did not finish in time and its process was killed."""


class DecodeFailed(DecodeError):
    """The job raised, or its process died (memory limit, a crash in a decoder)."""


class DecodeSandbox:
    """Runs decoding jobs in bounded child processes (see the module docstring)."""

    def __init__(
        self,
        *,
        timeout_seconds: float = 30.0,
        memory_bytes: int = 1024 * 1024 * 1024,
        concurrency: int = 2,
        job_modules: frozenset[str] = JOB_MODULES,
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.memory_bytes = memory_bytes
        self.job_modules = job_modules
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._env = {key: os.environ[key] for key in _KEPT_ENV if key in os.environ}

    def __repr__(self) -> str:
        return (
            f"DecodeSandbox(timeout_seconds={self.timeout_seconds:g}, "
            f"memory_bytes={self.memory_bytes})"
        )

    async def run(self, job: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`job(*args, **kwargs)` in a child process: its result, or the `MediaRefused` it raised.

        Raises `DecodeTimeout` or `DecodeFailed` when it gives no result."""
        if job.__module__ not in self.job_modules:
            raise ValueError(f"{job.__module__}.{job.__qualname__} is not a decoding job.")
        request = pickle.dumps((job, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
        cpu_seconds = math.ceil(self.timeout_seconds) + 1
        async with self._slots:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-c", _CHILD, str(self.memory_bytes), str(cpu_seconds),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, cwd=_ROOT, env=self._env,
            )
            try:
                async with asyncio.timeout(self.timeout_seconds):
                    answer, errors = await process.communicate(request)
            except TimeoutError:
                raise DecodeTimeout(
                    f"Decoding did not finish within {self.timeout_seconds:g} s "
                    "(MEDIA_DECODE_TIMEOUT_SECONDS); the process was stopped."
                ) from None
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
        try:
            outcome, payload = _AnswerUnpickler(io.BytesIO(answer), self.job_modules).load()
        except Exception as exc:  # noqa: BLE001 - no answer, a truncated one, or a forged one
            tail = errors.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
            logger.info(
                "decoding process ended with %s without a usable answer (%s): %s",
                process.returncode, type(exc).__name__, tail[0][:200],
            )
            if process.returncode == 0:
                raise DecodeFailed(
                    "The decoding process answered something other than a decoding result."
                ) from exc
            raise DecodeFailed(
                f"The decoding process died without an answer (exit {process.returncode}: over "
                "MEDIA_DECODE_MEMORY_MB, or a crash in a decoder)."
            ) from exc
        if outcome == "ok":
            return payload  # type: ignore[no-any-return]
        if outcome == "refused" and isinstance(payload, MediaRefused):
            raise payload
        raise DecodeFailed(f"Decoding failed: {payload}")


class _AnswerUnpickler(pickle.Unpickler):
    """Builds plain values and the types of the job modules only (never a function or a class
    from elsewhere, which is how a forged pickle would run code)."""

    def __init__(self, file: io.BytesIO, modules: frozenset[str]) -> None:
        super().__init__(file)
        self._modules = modules

    def find_class(self, module: str, name: str) -> Any:
        if module in self._modules:
            found = super().find_class(module, name)
            if isinstance(found, type):
                return found
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a decoding answer")


def child_main() -> None:
    """The child's whole life: cap itself, read one job from stdin, write one answer to stdout."""
    memory_bytes, cpu_seconds = int(sys.argv[1]), int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    answer: tuple[str, Any]
    try:
        job, args, kwargs = pickle.loads(sys.stdin.buffer.read())
        answer = ("ok", job(*args, **kwargs))
    except MediaRefused as exc:
        answer = ("refused", exc)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which decides
        answer = ("failed", f"{type(exc).__name__}: {str(exc)[:200]}")
    try:
        data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException as exc:  # noqa: BLE001 - e.g. a result too large for the memory limit
        data = pickle.dumps(("failed", f"the result could not be sent ({type(exc).__name__})"))
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
