"""What a launch prints while it runs: a progress bar in ``--local``, one line per trial event under Ray.

Ray Tune's own reporter prints a 60-line config box per trial and status tables every few seconds;
``run`` turns it off (``--tune-verbose 0``) and prints these lines instead.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable

from orchestrator.run_names import format_value

# Tune's new console output prints an experiment box and a TensorBoard hint even at verbose=0; its
# classic reporter is silent at 0 and prints its status tables at --tune-verbose 1/2.
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")

# Streamed metrics shown on a trial's line: at most this many, the rest are in MLflow.
SHOWN_METRICS = 3


def metric_text(metrics: dict[str, Any], limit: int = SHOWN_METRICS) -> str:
    items = [(k, v) for k, v in metrics.items() if not k.startswith(("_", "system/"))
             and isinstance(v, (int, float)) and not isinstance(v, bool)]
    text = " ".join(f"{k}={format_value(float(v))}" for k, v in items[:limit])
    return text + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


class LocalProgress:
    """A rich progress bar for ``run --local``: one bar for the sweep, one for the running trial
    (fed by ``ctx.progress``). Without a terminal it prints one line per finished trial instead."""

    def __init__(self, sweep_name: str, n_trials: int, console: Any = None):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = console or Console(stderr=True)
        self.live = self.console.is_terminal
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=self.console, disable=not self.live)
        self.sweep_task = self.progress.add_task(f"{sweep_name}", total=n_trials)
        self.trial_task: Any = None
        self.started = time.monotonic()

    def __enter__(self) -> "LocalProgress":
        self.progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()

    def trial_started(self, name: str) -> Callable[[int, int, str], None]:
        """Start the trial's bar; returns the ``ctx.on_progress`` callback that moves it."""
        if self.trial_task is not None:
            self.progress.remove_task(self.trial_task)
        self.trial_task = self.progress.add_task(f"  {name}", total=None)
        self._trial_t0 = time.monotonic()

        def on_progress(done: int, total: int, desc: str, task=self.trial_task) -> None:
            self.progress.update(task, completed=done, total=total or None,
                                 description=f"  {name}" + (f" · {desc}" if desc else ""))

        return on_progress

    def trial_ended(self, name: str, status: str, summary: dict[str, Any]) -> None:
        self.progress.advance(self.sweep_task)
        line = f"{status:<8} {name} ({time.monotonic() - self._trial_t0:.1f}s) {metric_text(summary)}".rstrip()
        if self.live:
            self.progress.console.print(line)
        else:
            print(line, file=sys.stderr, flush=True)


def progress_callbacks(name_of: Callable[[Any], str], out: Callable[[str], None] | None = None) -> list:
    """The Tune callbacks of a launch's console output: the event printer, and a stand-in for Tune's
    TensorBoard logger (MLflow is the record; Tune's CSV/JSON loggers stay, its result grid reads them)."""
    return [trial_event_printer(name_of, out), no_tensorboard_logger()]


def no_tensorboard_logger():
    """Tune adds a TensorBoard logger (event files, a TensorBoard hint) unless one is present; this
    no-op one takes its place."""
    from ray.tune.logger import LoggerCallback
    from ray.tune.logger.tensorboardx import TBXLoggerCallback

    class NoTensorBoard(TBXLoggerCallback):
        def __init__(self) -> None:
            LoggerCallback.__init__(self)

        def log_trial_start(self, trial) -> None:
            pass

        def log_trial_result(self, iteration, trial, result) -> None:
            pass

        def log_trial_end(self, trial, failed: bool = False) -> None:
            pass

        def __reduce__(self):
            return (_silent_callback, ())

    return NoTensorBoard()


def trial_event_printer(name_of: Callable[[Any], str], out: Callable[[str], None] | None = None):
    """A Ray Tune callback printing one concise line per trial event (start, result every
    ``$ORCHESTRATOR_PROGRESS_S`` seconds (default 30), complete, error), instead of Tune's tables."""
    from ray.tune import Callback

    emit = out or (lambda line: print(line, file=sys.stderr, flush=True))
    every = float(os.environ.get("ORCHESTRATOR_PROGRESS_S", "30"))

    class TrialEventPrinter(Callback):
        def __init__(self) -> None:
            self.t0: dict[str, float] = {}
            self.last_print: dict[str, float] = {}
            self.done = 0

        def __reduce__(self):
            # Stored with Tune's experiment state; a resumed launch attaches a fresh printer.
            return (_silent_callback, ())

        def on_trial_start(self, iteration, trials, trial, **info):
            self.t0[trial.trial_id] = self.last_print[trial.trial_id] = time.monotonic()
            emit(f"start    {name_of(trial)}  [{trial.trial_id}]")

        def on_trial_result(self, iteration, trials, trial, result, **info):
            now = time.monotonic()
            if result.get("_kind") != "report" or now - self.last_print.get(trial.trial_id, 0.0) < every:
                return
            self.last_print[trial.trial_id] = now
            keys = str(result.get("_keys", "")).splitlines()
            emit(f"step {result.get('_step', '?'):<4} {name_of(trial)}  {metric_text({k: result[k] for k in keys if k in result})}")

        def on_trial_complete(self, iteration, trials, trial, **info):
            self.done += 1
            took = time.monotonic() - self.t0.get(trial.trial_id, time.monotonic())
            keys = str((trial.last_result or {}).get("_keys", "")).splitlines()
            summary = {k: trial.last_result[k] for k in keys if k in trial.last_result}
            emit(f"done     {name_of(trial)}  ({took:.1f}s, {self.done}/{len(trials)}) {metric_text(summary)}".rstrip())

        def on_trial_error(self, iteration, trials, trial, **info):
            self.done += 1
            emit(f"FAILED   {name_of(trial)}  [{trial.trial_id}] (traceback: MLflow run artifact traceback.txt)")

    return TrialEventPrinter()


def _silent_callback():
    from ray.tune import Callback

    return Callback()


def closing_line(experiment: str, parent_run_id: str | None, tracking_uri: str) -> str:
    """The last line of ``run``/``reproduce``: where the record is and how to look at it."""
    parent = f", parent run {parent_run_id}" if parent_run_id else ""
    return f"experiment {experiment}{parent} — `orchestrator ui` (store {tracking_uri})"
