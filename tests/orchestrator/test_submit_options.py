"""`orchestrator submit` options: storage, resume, packages, the job's commit, failure and packaging errors."""
from __future__ import annotations

import shlex
from pathlib import Path
from types import SimpleNamespace

import pytest

from orchestrator import submit as sub
from orchestrator.cli import build_parser
from orchestrator.spec import SweepError, load_sweep

REPO = Path(__file__).resolve().parents[2]
SWEEP = REPO / "tests" / "support" / "sweeps" / "toy_submit.yaml"


def test_storage_defaults_to_a_persistent_head_path_never_the_job_dir(monkeypatch):
    monkeypatch.delenv("ORCHESTRATOR_STORAGE", raising=False)
    assert sub.job_storage(None) == "~/ray_results"
    monkeypatch.setenv("ORCHESTRATOR_STORAGE", "s3://bucket/ray")
    assert sub.job_storage(None) == "s3://bucket/ray"
    assert sub.job_storage("/mnt/nfs/ray") == "/mnt/nfs/ray"
    with pytest.raises(SweepError, match="relative"):
        sub.job_storage("ray_results")


def test_entrypoint_carries_storage_and_resume_and_the_head_expands_the_tilde():
    sweep = load_sweep(SWEEP, "smoke")
    ep = sub.build_entrypoint(sweep, "smoke", [], None, storage_path="~/ray_results", resume=True)
    argv = shlex.split(ep)
    assert argv[argv.index("--storage-path") + 1] == "~/ray_results" and argv[-1] == "--resume"
    assert "'~/ray_results'" in ep  # quoted: the submitting shell must not expand it, `run` does on the head
    from orchestrator.storage import resolve_storage

    assert resolve_storage("~/ray_results") == str(Path.home() / "ray_results")


def test_pip_and_uv_name_the_job_packages(tmp_path):
    deps = sub.project_dependencies()
    assert any(d.startswith("torch") for d in deps) and any(d.startswith("ray[") for d in deps)
    assert sub.packages_env() == {}
    assert sub.packages_env(pip="project") == {"pip": {"packages": deps}}
    req = tmp_path / "req.txt"
    req.write_text("numpy==1.26.4  # pinned\n\n# comment\nscipy\n")
    assert sub.packages_env(uv=str(req)) == {"uv": {"packages": ["numpy==1.26.4", "scipy"]}}
    assert sub.packages_env(pip="a, b==2") == {"pip": {"packages": ["a", "b==2"]}}
    with pytest.raises(SweepError, match="give one of them"):
        sub.packages_env(pip="a", uv="b")
    with pytest.raises(SweepError, match="names no package"):
        sub.packages_env(pip=" , ")


def test_cli_flags_reach_submit(monkeypatch):
    args = build_parser().parse_args(["submit", str(SWEEP), "--address", "http://h:8265", "--pip",
                                      "--storage-path", "s3://b/r", "--resume"])
    assert (args.pip, args.uv, args.storage_path, args.resume) == ("project", None, "s3://b/r", True)
    args = build_parser().parse_args(["run", str(SWEEP), "--storage-path", "gs://b/r"])
    assert args.storage_path == "gs://b/r"


def test_packaging_errors_are_one_paragraph_with_the_fix():
    size = sub.packaging_error(RuntimeError("Package size (612.0MiB) exceeds the maximum size of 512.00MiB\nmore"))
    assert "too large" in size and "\n" not in size and "612.0MiB" in size
    env = sub.packaging_error(ValueError("runtime_env field 'pip' is invalid"))
    assert "--pip/--uv" in env
    other = sub.packaging_error(ConnectionError("reset by peer"))
    assert "ray --version" in other and "ConnectionError" in other


def test_job_failure_names_rays_reason(monkeypatch):
    client = SimpleNamespace(get_job_info=lambda job: SimpleNamespace(
        message="Job entrypoint command failed with exit code -9, last available logs:\n..."))
    text = sub.job_failure(client, "raysubmit_1", "FAILED", "http://h:8265")
    assert "exit code -9" in text and "--resume" in text and "raysubmit_1" in text

    def broken(job):
        raise ConnectionError("head gone")

    assert "head gone" in sub.job_failure(SimpleNamespace(get_job_info=broken), "j", "FAILED", "http://h:8265")


def test_the_job_records_the_submitting_checkout_commit(monkeypatch):
    from orchestrator.tracking import git_commit

    monkeypatch.delenv(sub.COMMIT_ENV, raising=False)
    here = git_commit()
    assert len(here) == 40 or here == "unknown"
    monkeypatch.setenv(sub.COMMIT_ENV, "0123abc")
    assert git_commit() == "0123abc"
