"""orchestrator.trial_clock: a trial's own clock for benchmarks, and nothing at all when it is not asked for."""
from __future__ import annotations

import json
import os
import time

from ray import tune

from orchestrator.trial_clock import TIMES_ENV, trial_clock


def test_without_the_variable_nothing_is_patched_or_written(monkeypatch, tmp_path):
    monkeypatch.delenv(TIMES_ENV, raising=False)
    report = tune.report
    with trial_clock():
        assert tune.report is report
    assert list(tmp_path.iterdir()) == []


def test_counts_hand_overs_and_their_blocked_time(monkeypatch, tmp_path):
    out = tmp_path / "times.jsonl"
    monkeypatch.setenv(TIMES_ENV, str(out))
    handed: list[dict] = []

    def fake_report(metrics, checkpoint=None):  # stands in for Tune's blocking hand-over to the driver
        time.sleep(0.05)
        handed.append(metrics)

    monkeypatch.setattr(tune, "report", fake_report)
    for trial in range(2):  # two trials of one worker append two lines
        with trial_clock():
            import json as _  # noqa: F401  (already loaded: a trial of a warm worker imports nothing new)
            tune.report({"step": 0})
            tune.report({"step": 1}, checkpoint=None)
            assert tune.report is not fake_report
        assert tune.report is fake_report  # restored after the trial
    assert handed == [{"step": 0}, {"step": 1}] * 2
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 2
    for rec in lines:
        assert rec["pid"] == os.getpid() and rec["reports"] == 2
        assert rec["report_wait_s"] >= 0.1  # both sleeps counted as time blocked handing results over
        assert 0 <= rec["first_report_s"] <= rec["wall_s"] and rec["end"] >= rec["start"]
        assert rec["modules_imported"] == 0 and rec["torch_at_start"] == ("torch" in __import__("sys").modules)
        assert rec["process_started"] <= rec["start"] and rec["trainable_loaded"] <= rec["start"]


def test_a_failing_trial_still_writes_its_line(monkeypatch, tmp_path):
    out = tmp_path / "times.jsonl"
    monkeypatch.setenv(TIMES_ENV, str(out))
    monkeypatch.setattr(tune, "report", lambda metrics, checkpoint=None: None)
    try:
        with trial_clock():
            raise RuntimeError("workload failed")
    except RuntimeError:
        pass
    rec = json.loads(out.read_text())
    assert rec["reports"] == 0 and rec["first_report_s"] is None
