"""Where a Ray trial's workload writes its files (``ctx.work_dir``): never inside the Tune trial folder that the
driver copies to the storage on every experiment sync."""
from __future__ import annotations

import tempfile
from pathlib import Path

from orchestrator.ray_context import trial_work_dir


def test_work_dir_is_tunes_working_directory_not_the_synced_trial_folder(tmp_path):
    session = tmp_path / "session" / "artifacts" / "2026-12-02" / "exp"
    logdir = session / "driver_artifacts" / "7b6fd_00000"  # what tune.get_context().get_trial_dir() returns
    cwd = session / "working_dirs" / "7b6fd_00000"  # the actor's cwd (RAY_CHDIR_TO_TRIAL_DIR=1, Ray's default)
    work = trial_work_dir(logdir, cwd=cwd)
    assert work == cwd / "work"
    assert logdir not in work.parents


def test_without_tunes_chdir_the_work_dir_is_a_temporary_folder_named_after_the_trial(tmp_path):
    logdir = tmp_path / "exp" / "driver_artifacts" / "7b6fd_00001"
    work = trial_work_dir(logdir, cwd=tmp_path / "somewhere")  # RAY_CHDIR_TO_TRIAL_DIR=0: cwd is the user's
    assert work == Path(tempfile.gettempdir()) / "orchestrator-work" / "exp" / "7b6fd_00001"
    assert logdir not in work.parents
