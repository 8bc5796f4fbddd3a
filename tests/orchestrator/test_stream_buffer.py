"""orchestrator.stream_buffer: streamed metrics written in batches, in the same order, none lost."""
from __future__ import annotations

import time

import pytest
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from orchestrator.stream_buffer import FLUSH_ENV, FlushingClient, StreamBuffer, flush_interval
from orchestrator.tracking import Recorder


class FakeClient:
    """Records every store call in order; ``fail`` makes log_batch raise (a store that went away)."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.fail = False

    def log_batch(self, run_id, metrics=()):
        if self.fail:
            raise OSError("store unreachable")
        self.calls.append(("log_batch", run_id, [(m.key, m.value, m.step) for m in metrics]))

    def set_terminated(self, run_id, status="FINISHED"):
        self.calls.append(("set_terminated", run_id, status))


def metric(key, value, step):
    return Metric(key, value, 0, step)


def test_metrics_wait_then_go_in_one_batch_per_run_in_arrival_order():
    raw = FakeClient()
    buf = StreamBuffer(raw, flush_s=60)
    buf.add("a", [metric("loss", 1.0, 0)])
    buf.add("b", [metric("loss", 5.0, 0)])
    buf.add("a", [metric("loss", 2.0, 1), metric("acc", 0.5, 1)])
    assert raw.calls == []  # nothing written yet: one commit per run later instead of one per result
    buf.flush()
    assert raw.calls == [("log_batch", "a", [("loss", 1.0, 0), ("loss", 2.0, 1), ("acc", 0.5, 1)]),
                         ("log_batch", "b", [("loss", 5.0, 0)])]
    buf.flush()
    assert len(raw.calls) == 2  # nothing pending, nothing written again


def test_every_other_client_call_writes_the_pending_stream_first():
    raw = FakeClient()
    buf = StreamBuffer(raw, flush_s=60)
    client = FlushingClient(raw, buf)
    buf.add("a", [metric("loss", 1.0, 3)])
    client.set_terminated("a", "FINISHED")
    assert [c[0] for c in raw.calls] == ["log_batch", "set_terminated"]


def test_zero_interval_writes_each_event_at_once():
    raw = FakeClient()
    buf = StreamBuffer(raw, flush_s=0)
    buf.add("a", [metric("loss", 1.0, 0)])
    buf.add("a", [metric("loss", 2.0, 1)])
    assert raw.calls == [("log_batch", "a", [("loss", 1.0, 0)]), ("log_batch", "a", [("loss", 2.0, 1)])]


def test_an_old_batch_is_written_by_the_next_event_or_the_timer():
    raw = FakeClient()
    buf = StreamBuffer(raw, flush_s=0.05)
    buf.add("a", [metric("loss", 1.0, 0)])
    deadline = time.monotonic() + 10
    while not raw.calls and time.monotonic() < deadline:  # the timer's flush, no further event needed
        time.sleep(0.01)
    assert raw.calls == [("log_batch", "a", [("loss", 1.0, 0)])]


def test_a_failed_write_keeps_the_values_for_the_next_flush():
    raw = FakeClient()
    buf = StreamBuffer(raw, flush_s=60)
    buf.add("a", [metric("loss", 1.0, 0)])
    raw.fail = True
    buf.flush_quietly()  # the timer's path: logs, keeps them
    with pytest.raises(OSError):
        buf.flush()  # a caller's path: gets the store's error, keeps them
    raw.fail = False
    buf.add("a", [metric("loss", 2.0, 1)])
    buf.flush()
    assert raw.calls == [("log_batch", "a", [("loss", 1.0, 0), ("loss", 2.0, 1)])]


def test_large_batches_are_split_to_what_mlflow_accepts():
    raw = FakeClient()
    buf = StreamBuffer(raw, flush_s=60)
    buf.add("a", [metric(f"m{i}", float(i), 0) for i in range(1200)])
    buf.flush()
    assert [len(c[2]) for c in raw.calls] == [500, 500, 200]
    assert [k for c in raw.calls for k, _, _ in c[2]] == [f"m{i}" for i in range(1200)]


def test_interval_from_the_environment(monkeypatch):
    monkeypatch.delenv(FLUSH_ENV, raising=False)
    assert flush_interval() == 1.0
    monkeypatch.setenv(FLUSH_ENV, "0")
    assert flush_interval() == 0.0
    monkeypatch.setenv(FLUSH_ENV, "soon")
    with pytest.raises(ValueError, match=FLUSH_ENV):
        flush_interval()


def test_recorder_streams_reach_the_store_before_the_run_ends(tmp_path, monkeypatch):
    monkeypatch.setenv(FLUSH_ENV, "60")  # only the run's end may write them here
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    rec = Recorder(uri, "buffered")
    run = rec.client.create_run(rec.experiment_id).info.run_id
    for step in range(5):
        rec.log_stream(run, {"error": float(step)}, step=step)
    other = MlflowClient(uri)  # a reader outside the recorder sees nothing yet ...
    assert other.get_metric_history(run, "stream/error") == []
    rec.end_trial(run, "FINISHED")  # ... and everything once the run ends
    history = other.get_metric_history(run, "stream/error")
    assert sorted((m.step, m.value) for m in history) == [(s, float(s)) for s in range(5)]
    assert other.get_run(run).info.status == "FINISHED"
