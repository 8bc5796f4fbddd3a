"""Ctrl-C and SIGTERM during a launch: unfinished runs end KILLED and the user gets the ``--resume`` command.

Ray Tune stops its loop on the first SIGINT and returns normally; SIGTERM (what ``kill``, schedulers and
containers send) would end the driver without any bookkeeping, so while a launch runs it is turned into the
same SIGINT. ``pause_point`` lets the fault-injection tests stop a driver at a named moment.
"""
from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import Iterator

PAUSE_ENV = "ORCHESTRATOR_PAUSE_AT"  # "moment=seconds[,moment=seconds]": sleep there (fault-injection tests)


class SweepInterrupted(KeyboardInterrupt):
    """A launch was interrupted; the message names the command that resumes it. The CLI exits 130."""


def _forward_to_sigint(*_: object) -> None:
    os.kill(os.getpid(), signal.SIGINT)


@contextlib.contextmanager
def sigterm_as_sigint() -> Iterator[None]:
    """Within the block SIGTERM behaves like Ctrl-C (Tune's graceful stop, or ``KeyboardInterrupt``)."""
    if os.name != "posix":
        yield
        return
    try:
        previous = signal.signal(signal.SIGTERM, _forward_to_sigint)
    except ValueError:  # not the main thread: signals cannot be handled here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def reinstall_sigterm() -> None:
    """Put our SIGTERM handler back after ``ray.init`` (Ray's core installs one that aborts the process)."""
    if os.name != "posix":
        return
    try:
        # getsignal() cannot see a handler installed in C, so set ours unconditionally.
        signal.signal(signal.SIGTERM, _forward_to_sigint)
    except ValueError:
        pass


def pause_point(moment: str) -> None:
    """Sleep at ``moment`` when ``ORCHESTRATOR_PAUSE_AT`` names it (a window for a test to kill the driver)."""
    spec = os.environ.get(PAUSE_ENV, "")
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, _, seconds = item.partition("=")
        if name == moment:
            time.sleep(float(seconds or 30))
