"""Every sweep file runs end to end at smoke scale (Ray Tune or in-process: `through_ray`) + MLflow + rendering of
its tables."""
from __future__ import annotations

import pytest

from orchestrator.spec import SWEEPS_DIR, all_sweep_files, load_sweep

SWEEPS = [str(p.relative_to(SWEEPS_DIR)) for p in all_sweep_files()]

# The sweeps run as two xdist groups of papers, so each worker runs one half into its own store and the halves'
# `reproduce` tests render their papers' tables from them. One group was the suite's critical path (all ~100
# launches in a row on one worker while the other idled); the halves are about even (baseline, load ~10:
# compgs 393 s + palm ~320 s + tts vs cmsf 122 s + nola 416 s + simreg + slowformer).
HALVES = {"smoke-sweeps-a": ("compgs", "palm", "tts"), "smoke-sweeps-b": ("cmsf", "nola", "simreg", "slowformer")}


def paper_of_sweep(rel: str) -> str:
    return rel.split("/")[0]


FIRST_OF_PAPER: dict[str, str] = {}
for _rel in sorted(SWEEPS):
    FIRST_OF_PAPER.setdefault(paper_of_sweep(_rel), _rel)


def paper_of_table(spec) -> str:
    return spec.id.split("-")[0]  # "palm-table1" -> "palm": the sweeps folder of the table's paper


def half_of(paper: str) -> str:
    """The xdist group of a paper's sweeps and tables ("smoke-sweeps-a" for a paper not listed yet: the test of
    the halves below names it)."""
    return next((group for group, papers in HALVES.items() if paper in papers), "smoke-sweeps-a")


def through_ray(rel: str, sweep) -> bool:
    """Whether a sweep's smoke test launches it on Ray Tune: what only Tune runs (an Optuna search, a scheduler)
    and each paper's first sweep, so every workload runs through the trainable (its worker imports, the Tune
    storage for artifacts and checkpoints). The others run in this process (``orchestrator run --local``) into the
    same store: the same workload code and MLflow records, without a Tune launch and fresh trial workers each
    (about half of a small sweep's CPU time on the 2-core CI machine)."""
    return bool(sweep.search or sweep.scheduler) or rel == FIRST_OF_PAPER[paper_of_sweep(rel)]


def in_its_half(rel: str):
    return pytest.param(rel, marks=pytest.mark.xdist_group(half_of(paper_of_sweep(rel))))


@pytest.fixture(scope="module")
def smoke_store(tmp_path_factory):
    """One MLflow store for the smoke sweeps this worker runs, so the `reproduce` test of each half at the end
    renders its tables from these runs (finished trials skipped) instead of running each sweep a second time."""
    return f"sqlite:///{tmp_path_factory.mktemp('smoke-store') / 'mlruns.db'}"


@pytest.fixture(scope="module")
def smoke_cache(tmp_path_factory):
    """One ``$ORCHESTRATOR_CACHE`` for the smoke sweeps this worker runs, as a user's sweeps share theirs: each
    paper's source models, data streams and scenes are built by its first sweep and read by the later ones
    (each PALM sweep used to train its own source model in a cache of its own)."""
    return str(tmp_path_factory.mktemp("smoke-cache"))


def test_there_are_sweeps_for_every_paper():
    folders = {s.split("/")[0] for s in SWEEPS if "/" in s}
    assert folders, "no sweep files found under sweeps/"


def test_the_halves_hold_every_sweep_and_table():
    """Each half's store must hold every sweep its tables read: every sweep folder is in one half, every table
    reads only its own paper's sweeps, and the halves' tables together are `reproduce all`'s."""
    from results.reproduce import select_tables

    listed = [p for papers in HALVES.values() for p in papers]
    assert len(listed) == len(set(listed)), HALVES
    assert not {paper_of_sweep(s) for s in SWEEPS} - set(listed), "a sweeps folder is in no half of HALVES"
    tables = select_tables(["all"])
    assert not [t.id for t in tables if paper_of_table(t) not in listed], "a table's paper is in no half"
    assert not [(t.id, t.sweeps) for t in tables if {paper_of_sweep(s) for s in t.sweeps} - {paper_of_table(t)}]


@pytest.mark.parametrize("rel", SWEEPS)
def test_sweep_validates_at_every_scale(rel):
    for scale in ("smoke", "mini", "paper"):
        sweep = load_sweep(SWEEPS_DIR / rel, scale)
        assert sweep.trials(), f"{rel} has no trials at {scale}"


@pytest.mark.parametrize("rel", [in_its_half(rel) for rel in SWEEPS])
def test_sweep_runs_at_smoke_scale_and_renders(rel, tmp_path, ray_session, monkeypatch, smoke_store, smoke_cache):
    from orchestrator.launch import run_sweep
    from orchestrator.local import run_local
    from results.render import MISSING, render
    from results.spec import all_tables

    monkeypatch.setenv("ORCHESTRATOR_CACHE", smoke_cache)
    uri = smoke_store
    sweep = load_sweep(SWEEPS_DIR / rel, "smoke")
    if through_ray(rel, sweep):
        # skip_finished: a trial shared with an earlier sweep of this module (same config) already ran in this store
        result = run_sweep(sweep, tracking_uri=uri, storage_path=tmp_path / "ray", verbose=0, skip_finished=True)
    else:
        result = run_local(sweep, tracking_uri=uri, work_root=tmp_path / "work")
    assert result.n_failed == 0, result.rows
    assert result.n_trials + result.n_skipped >= 1
    tables = [t for t in all_tables().values() if rel in t.sweeps]
    for spec in tables:
        r = render(spec, "smoke", uri)
        ours = r.ours_values()
        assert any(v != MISSING for v in ours), f"{spec.id}: no cell filled from {rel}"


@pytest.mark.slow
@pytest.mark.parametrize("half", [pytest.param(group, marks=pytest.mark.xdist_group(group)) for group in HALVES])
def test_reproduce_at_smoke_renders_every_table(half, tmp_path, ray_session, monkeypatch, smoke_store, smoke_cache):
    """`orchestrator reproduce` of every table of a half's papers at smoke scale (issue 19 item 3; the two halves
    are `reproduce all --scale smoke`): every table and figure renders, filled from its smoke sweeps or shown
    "paper only". Last of its group: the sweeps above already ran into this worker's store, so this costs the
    skipped launches and the rendering (run alone, it runs the half's smoke sweeps first)."""
    import results.render as render_mod
    from results.producible import scale_produces
    from results.render import MISSING, PAPER_ONLY
    from results.reproduce import reproduce
    from results.spec import all_tables

    monkeypatch.setenv("ORCHESTRATOR_CACHE", smoke_cache)
    monkeypatch.setattr(render_mod, "OUT_DIR", tmp_path / "out")  # figure PNGs
    ids = sorted(t.id for t in all_tables().values() if half_of(paper_of_table(t)) == half)
    assert ids, half
    launches, rendered = reproduce(ids, "smoke", smoke_store, out_dir=tmp_path / "out",
                                   storage_path=tmp_path / "ray", verbose=0)
    assert not [r.rows for r in launches if r.n_failed]
    assert sorted(r.spec.id for r in rendered) == ids
    for r in rendered:
        if scale_produces(r.spec, "smoke"):
            assert any(v != MISSING for v in r.ours_values()), f"{r.spec.id}: no cell filled at smoke"
        else:  # paper only: the published numbers, no cell counted as missing
            assert r.spec.published and r.missing_cells == 0 and (r.cells["status"] == PAPER_ONLY).all(), r.spec.id
    assert (tmp_path / "out" / "report.md").is_file()
    assert not [t for t in ids if not (tmp_path / "out" / f"{t}-smoke.md").is_file()], "a table wrote no fragment"
