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


def closes_on_interrupt(run):
    """Decorator for ``run_local(sweep, tracking_uri=...)``: Ctrl-C / SIGTERM end the launch's unfinished runs
    KILLED (never left RUNNING) and raise ``SweepInterrupted`` naming the command that runs what is missing."""
    import functools

    @functools.wraps(run)
    def wrapper(sweep, *args, **kwargs):
        started_ms = int(time.time() * 1000) - 1000
        try:
            with sigterm_as_sigint():
                return run(sweep, *args, **kwargs)
        except KeyboardInterrupt:
            _close_local(sweep, kwargs.get("tracking_uri"), started_ms)
            uri = kwargs.get("tracking_uri")
            again = f"orchestrator run {sweep.path} --scale {sweep.scale} --skip-finished" + (
                f" --tracking-uri {uri}" if uri else "")
            raise SweepInterrupted(f"launch of sweep {sweep.name!r} at scale {sweep.scale!r} interrupted: its "
                                   f"unfinished trials are marked KILLED and its finished ones are kept. Run only the "
                                   f"missing ones (on Ray Tune; --local runs every trial again) with:\n  {again}"
                                   ) from None

    return wrapper


def _close_local(sweep, tracking_uri: str | None, started_ms: int) -> None:
    """The parent runs this process started for ``sweep`` (this host, since ``started_ms``), and their
    children still RUNNING, end KILLED."""
    import platform

    from mlflow.tracking import MlflowClient

    from orchestrator.launch_state import INTERRUPTED_TAG, ROLE_TAG, child_runs
    from orchestrator.tracking import resolve_tracking_uri

    try:
        client = MlflowClient(resolve_tracking_uri(tracking_uri))
        exp = client.get_experiment_by_name(sweep.name)
        if exp is None:
            return
        parents = client.search_runs([exp.experiment_id], filter_string=(
            f"tags.`{ROLE_TAG}` = 'parent' and tags.scale = '{sweep.scale}' and attributes.status = 'RUNNING' "
            f"and attributes.start_time >= {started_ms} and tags.host = '{platform.node()}'"))
        for parent in parents:
            for child in child_runs(client, exp.experiment_id, parent.info.run_id):
                if child.info.status == "RUNNING":
                    client.set_tag(child.info.run_id, INTERRUPTED_TAG, "interrupted (Ctrl-C or SIGTERM)")
                    client.set_terminated(child.info.run_id, "KILLED")
            client.set_tag(parent.info.run_id, INTERRUPTED_TAG, "interrupted (Ctrl-C or SIGTERM)")
            client.set_terminated(parent.info.run_id, "KILLED")
    except Exception as exc:  # the store itself failed; the message still reaches the user
        import sys

        print(f"warning: could not mark the interrupted runs KILLED ({exc})", file=sys.stderr)
