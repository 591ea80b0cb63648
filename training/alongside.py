"""Run a job in a forked child while this process does something else; collect its result.

Building a window's examples is single-threaded Python (candidates and features per query),
so on a machine with 2+ cores the validation and test windows can be built while this
process builds the training window. A fork inherits what is already loaded (the Feast
store, the compiled kernels, the imports) at no cost, where a fresh process would pay
seconds for each.

The result comes back as a pickle (protocol 5) whose large buffers (numpy arrays, pandas
blocks) do not go through the pipe: the child writes them to an unnamed file in shared
memory that the parent opened before forking, and the parent maps that file copy-on-write.
For the held-out windows (about a gigabyte of features) the pipe cost about 5 s of the
parent's time on 2 cores: pickling, a pipe of 64 KiB at a time and unpickling each copy
every byte; the mapped file is written once and read in place.

Only where fork is the platform's safe default (Linux); elsewhere, and on one core, the job
runs in this process when its result is asked for.
"""

from __future__ import annotations

import mmap
import multiprocessing
import os
import pickle
import sys
import tempfile
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Generic, TypeVar

T = TypeVar("T")
# numpy reads unaligned buffers, but slower; every spilled buffer starts on a cache line
ALIGN = 64


def can_fork() -> bool:
    """Whether jobs run alongside: Linux with at least 2 usable cores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return sys.platform.startswith("linux") and (cores or 1) >= 2


class Alongside(Generic[T]):
    """`job()` started now in a forked child (or deferred, see `can_fork`); `result()` waits."""

    def __init__(self, job: Callable[[], T], *, fork: bool | None = None) -> None:
        self._job = job
        self._process: multiprocessing.process.BaseProcess | None = None
        self._receiver: Connection | None = None
        self._spill: IO[bytes] | None = None
        if fork if fork is not None else can_fork():
            context = multiprocessing.get_context("fork")
            self._receiver, sender = context.Pipe(duplex=False)
            # unnamed: nothing is left behind whichever process dies first
            self._spill = tempfile.TemporaryFile(dir=_spill_dir())  # noqa: SIM115 (closed in result)
            self._process = context.Process(
                target=_run, args=(job, sender, self._spill.fileno()), daemon=True
            )
            self._process.start()
            sender.close()  # the child holds the only write end: EOF when it dies

    @property
    def forked(self) -> bool:
        return self._process is not None

    def result(self) -> T:
        """The job's return value; its exception re-raised here if it failed."""
        if self._process is None or self._receiver is None or self._spill is None:
            return self._job()
        try:
            ok, payload, spans = self._receiver.recv()
        except EOFError:
            self._process.join()
            raise RuntimeError(
                f"the child process building alongside died (exit code "
                f"{self._process.exitcode}) before returning its result"
            ) from None
        finally:
            self._receiver.close()
        self._process.join()
        with self._spill:
            if not ok:
                raise RuntimeError(f"the job run alongside failed:\n{payload}")
            buffers: list[memoryview] = []
            if spans:
                end = spans[-1][0] + spans[-1][1]
                # ACCESS_COPY: the arrays are writable, and writes stay in this process
                mapped = memoryview(mmap.mmap(self._spill.fileno(), end, access=mmap.ACCESS_COPY))
                buffers = [mapped[start : start + size] for start, size in spans]
            value: T = pickle.loads(payload, buffers=buffers)
        return value


def _spill_dir() -> str | None:
    """Shared memory where there is some (Linux), else the default temporary folder."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def _run(job: Callable[[], object], sender: Connection, spill_fd: int) -> None:
    spans: list[tuple[int, int]] = []
    try:
        buffers: list[pickle.PickleBuffer] = []
        payload = pickle.dumps(job(), protocol=5, buffer_callback=buffers.append)
        with os.fdopen(os.dup(spill_fd), "wb") as spill:
            position = 0
            for buffer in buffers:
                raw = buffer.raw()
                padding = -position % ALIGN
                spill.write(b"\0" * padding)
                spill.write(raw)
                spans.append((position + padding, raw.nbytes))
                position += padding + raw.nbytes
        outcome: tuple[bool, object, list[tuple[int, int]]] = (True, payload, spans)
    except BaseException:  # report everything to the parent, which decides
        outcome = (False, traceback.format_exc(), [])
    sender.send(outcome)
    sender.close()
