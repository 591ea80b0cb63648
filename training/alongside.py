"""Run a job in a forked child while this process does something else; collect its result.

Building a window's examples is single-threaded Python (candidates and features per query),
so on a machine with 2+ cores the validation and test windows can be built while this
process builds the training window. A fork inherits what is already loaded (the Feast
store, the compiled kernels, the imports) at no cost, where a fresh process would pay
seconds for each; the result comes back pickled through a pipe.

Only where fork is the platform's safe default (Linux); elsewhere, and on one core, the job
runs in this process when its result is asked for.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Generic, TypeVar

T = TypeVar("T")


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
        if fork if fork is not None else can_fork():
            context = multiprocessing.get_context("fork")
            self._receiver, sender = context.Pipe(duplex=False)
            self._process = context.Process(target=_run, args=(job, sender), daemon=True)
            self._process.start()
            sender.close()  # the child holds the only write end: EOF when it dies

    @property
    def forked(self) -> bool:
        return self._process is not None

    def result(self) -> T:
        """The job's return value; its exception re-raised here if it failed."""
        if self._process is None or self._receiver is None:
            return self._job()
        try:
            ok, payload = self._receiver.recv()
        except EOFError:
            self._process.join()
            raise RuntimeError(
                f"the child process building alongside died (exit code "
                f"{self._process.exitcode}) before returning its result"
            ) from None
        finally:
            self._receiver.close()
        self._process.join()
        if not ok:
            raise RuntimeError(f"the job run alongside failed:\n{payload}")
        return payload


def _run(job: Callable[[], object], sender: Connection) -> None:
    try:
        outcome: tuple[bool, object] = (True, job())
    except BaseException:  # report everything to the parent, which decides
        outcome = (False, traceback.format_exc())
    sender.send(outcome)
    sender.close()
