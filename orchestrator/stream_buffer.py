"""Streamed metrics written to MLflow in batches, off the per-result path of the driver (issue 18.3).

Under Ray Tune a trial's ``report`` blocks until the driver has handled the result, and the driver handles the
results of all running trials one by one. Writing each streamed event as its own ``log_batch`` costs one store
transaction (SQLite: a commit and an fsync, 10-16 ms on a plain disk) per result, on that path. So the recorder
keeps a trial's streamed metrics for up to ``$ORCHESTRATOR_STREAM_FLUSH_S`` seconds (default 1; 0 writes each at
once) and writes each run's in one ``log_batch``; a timer writes them when no further result comes.

Nothing is reordered or dropped: every other call on the recorder's client (a tag, the summary, a checkpoint
pointer, a run's end, a read) first writes what is pending, under one lock, so the store sees the same sequence
as before, and the process writes what is left when it exits. A driver killed with SIGKILL loses at most the last
``flush_s`` of streamed values, all after the trial's last recorded checkpoint: ``--resume`` runs those steps again.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from typing import Any

FLUSH_ENV = "ORCHESTRATOR_STREAM_FLUSH_S"
DEFAULT_FLUSH_S = 1.0
BATCH = 500  # metrics per log_batch call (MLflow accepts at most 1000 entries per call)
log = logging.getLogger(__name__)


def flush_interval() -> float:
    """``$ORCHESTRATOR_STREAM_FLUSH_S`` (seconds, 0 = write every event at once), else ``DEFAULT_FLUSH_S``."""
    text = os.environ.get(FLUSH_ENV, "")
    try:
        value = float(text) if text else DEFAULT_FLUSH_S
    except ValueError:
        raise ValueError(f"{FLUSH_ENV}={text!r} is not a number of seconds; set it to e.g. 1 (batch streamed "
                         f"metrics for up to a second) or 0 (write each at once), or unset it.") from None
    return max(0.0, value)


class StreamBuffer:
    """Streamed metrics per run, waiting for one ``log_batch`` each; ``lock`` serialises every use of the store."""

    def __init__(self, client: Any, flush_s: float):
        self.client = client  # the plain MlflowClient (FlushingClient wraps it for everyone else)
        self.flush_s = flush_s
        self.lock = threading.RLock()
        self.pending: dict[str, list[Any]] = {}
        self.since: float | None = None  # when the oldest pending metric arrived
        ref = weakref.ref(self)
        atexit.register(lambda: ref() is not None and ref().flush())

    def add(self, run_id: str, metrics: list[Any]) -> None:
        with self.lock:
            self.pending.setdefault(run_id, []).extend(metrics)
            now = time.monotonic()
            if self.flush_s <= 0 or (self.since is not None and now - self.since >= self.flush_s):
                self.flush()
            elif self.since is None:
                self.since = now
                timer = threading.Timer(self.flush_s, self.flush_quietly)
                timer.daemon = True
                timer.start()

    def flush(self) -> None:
        """Write everything pending, oldest first (raises what the store raises; the rest stays pending)."""
        with self.lock:
            while self.pending:
                run_id = next(iter(self.pending))
                metrics = self.pending[run_id]
                while metrics:
                    self.client.log_batch(run_id, metrics=metrics[:BATCH])
                    del metrics[:BATCH]
                del self.pending[run_id]
            self.since = None

    def flush_quietly(self) -> None:
        # The timer's flush: a store error here has no caller to reach, so the values stay for the next flush,
        # whose caller (the next result, a run's end) then gets the error.
        try:
            self.flush()
        except Exception as exc:
            log.warning("streamed metrics not written yet (%s: %s); retried with the next record", type(exc).__name__, exc)


class FlushingClient:
    """The MLflow client for everything but streamed metrics: each call first writes the pending stream."""

    def __init__(self, client: Any, buffer: StreamBuffer):
        self._client = client
        self._buffer = buffer

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._buffer.lock:
                self._buffer.flush()
                return attr(*args, **kwargs)

        call.__name__ = name
        return call
