"""Every sweep file runs end to end at smoke scale: Ray Tune + MLflow + rendering of its tables."""
from __future__ import annotations

import pytest

from orchestrator.spec import SWEEPS_DIR, all_sweep_files, load_sweep

SWEEPS = [str(p.relative_to(SWEEPS_DIR)) for p in all_sweep_files()]

# Its own group, so that every test of this module runs on one worker (the store below is per worker) and the
# other worker runs the "ray" group beside it: this module alone is a third of the suite's time.
pytestmark = [pytest.mark.xdist_group("smoke-sweeps")]


@pytest.fixture(scope="module")
def smoke_store(tmp_path_factory):
    """One MLflow store for every smoke sweep of this module, so the `reproduce all` test at its end renders
    every table from these runs (finished trials skipped) instead of running each sweep a second time."""
    return f"sqlite:///{tmp_path_factory.mktemp('smoke-store') / 'mlruns.db'}"


def test_there_are_sweeps_for_every_paper():
    folders = {s.split("/")[0] for s in SWEEPS if "/" in s}
    assert folders, "no sweep files found under sweeps/"


@pytest.mark.parametrize("rel", SWEEPS)
def test_sweep_validates_at_every_scale(rel):
    for scale in ("smoke", "mini", "paper"):
        sweep = load_sweep(SWEEPS_DIR / rel, scale)
        assert sweep.trials(), f"{rel} has no trials at {scale}"


@pytest.mark.parametrize("rel", SWEEPS)
def test_sweep_runs_at_smoke_scale_and_renders(rel, tmp_path, ray_session, monkeypatch, smoke_store):
    from orchestrator.launch import run_sweep
    from results.render import MISSING, render
    from results.spec import all_tables

    monkeypatch.setenv("ORCHESTRATOR_CACHE", str(tmp_path / "cache"))
    uri = smoke_store
    sweep = load_sweep(SWEEPS_DIR / rel, "smoke")
    # skip_finished: a trial shared with an earlier sweep of this module (same config) already ran in this store
    result = run_sweep(sweep, tracking_uri=uri, storage_path=tmp_path / "ray", verbose=0, skip_finished=True)
    assert result.n_failed == 0, result.rows
    assert result.n_trials + result.n_skipped >= 1
    tables = [t for t in all_tables().values() if rel in t.sweeps]
    for spec in tables:
        r = render(spec, "smoke", uri)
        ours = r.ours_values()
        assert any(v != MISSING for v in ours), f"{spec.id}: no cell filled from {rel}"


@pytest.mark.slow
def test_reproduce_all_at_smoke_renders_every_table(tmp_path, ray_session, monkeypatch, smoke_store):
    """`orchestrator reproduce all --scale smoke` (issue 19 item 3): every table and figure renders, filled from
    its smoke sweeps or shown "paper only". Last in this module: the sweeps above already ran into the shared
    store, so this costs the skipped launches and the rendering (run alone, it runs every smoke sweep first)."""
    import results.render as render_mod
    from results.producible import scale_produces
    from results.render import MISSING, PAPER_ONLY
    from results.reproduce import reproduce
    from results.spec import all_tables

    monkeypatch.setenv("ORCHESTRATOR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(render_mod, "OUT_DIR", tmp_path / "out")  # figure PNGs
    launches, rendered = reproduce(["all"], "smoke", smoke_store, out_dir=tmp_path / "out",
                                   storage_path=tmp_path / "ray", verbose=0)
    assert not [r.rows for r in launches if r.n_failed]
    tables = all_tables()
    assert sorted(r.spec.id for r in rendered) == sorted(tables)
    for r in rendered:
        if scale_produces(r.spec, "smoke"):
            assert any(v != MISSING for v in r.ours_values()), f"{r.spec.id}: no cell filled at smoke"
        else:  # paper only: the published numbers, no cell counted as missing
            assert r.spec.published and r.missing_cells == 0 and (r.cells["status"] == PAPER_ONLY).all(), r.spec.id
    assert (tmp_path / "out" / "report.md").is_file()
    assert not [t for t in tables if not (tmp_path / "out" / f"{t}-smoke.md").is_file()], "a table wrote no fragment"
