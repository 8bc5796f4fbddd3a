"""Every sweep file runs end to end at smoke scale: Ray Tune + MLflow + rendering of its tables."""
from __future__ import annotations

import pytest

from orchestrator.spec import SWEEPS_DIR, all_sweep_files, load_sweep

SWEEPS = [str(p.relative_to(SWEEPS_DIR)) for p in all_sweep_files()]

pytestmark = [pytest.mark.xdist_group("ray")]


def test_there_are_sweeps_for_every_paper():
    folders = {s.split("/")[0] for s in SWEEPS if "/" in s}
    assert folders, "no sweep files found under sweeps/"


@pytest.mark.parametrize("rel", SWEEPS)
def test_sweep_validates_at_every_scale(rel):
    for scale in ("smoke", "mini", "paper"):
        sweep = load_sweep(SWEEPS_DIR / rel, scale)
        assert sweep.trials(), f"{rel} has no trials at {scale}"


@pytest.mark.parametrize("rel", SWEEPS)
def test_sweep_runs_at_smoke_scale_and_renders(rel, tmp_path, ray_session, monkeypatch):
    from orchestrator.launch import run_sweep
    from results.render import MISSING, render
    from results.spec import all_tables

    monkeypatch.setenv("ORCHESTRATOR_CACHE", str(tmp_path / "cache"))
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    sweep = load_sweep(SWEEPS_DIR / rel, "smoke")
    result = run_sweep(sweep, tracking_uri=uri, storage_path=tmp_path / "ray", verbose=0)
    assert result.n_failed == 0, result.rows
    assert result.n_trials >= 1
    tables = [t for t in all_tables().values() if rel in t.sweeps]
    for spec in tables:
        r = render(spec, "smoke", uri)
        ours = r.ours_values()
        assert any(v != MISSING for v in ours), f"{spec.id}: no cell filled from {rel}"
