"""Decoding jobs that behave like hostile files do, for the sandbox tests.

Only the standard library is imported here: the sandbox's child imports this module by name, and
the memory test needs the child small before the job allocates.
"""

from __future__ import annotations

import os

from pipeline.sandbox import MediaRefused

__all__ = ["Refused", "crash", "echo", "forged_answer", "hog", "refuse", "spin"]


class Refused(MediaRefused):
    """A refusal with an argument, as the decoders raise them."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def echo(data: bytes, *, suffix: bytes = b"") -> bytes:
    return data + suffix


def spin() -> None:
    """A decoder caught in a loop."""
    while True:
        pass


def hog(megabytes: int) -> int:
    """A decoder asked to allocate a huge frame."""
    block = bytearray(megabytes * 1024 * 1024)
    return len(block)


def refuse(reason: str) -> None:
    raise Refused(reason)


def crash() -> None:
    """A decoder that crashes the process (as a segfault in native code would)."""
    os.abort()


def forged_answer() -> object:
    """A taken-over child answering with something that would run code in the parent."""
    return os.system
