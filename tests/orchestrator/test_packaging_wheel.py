"""A plain (non-editable) install works: build the wheel, install it in a fresh virtualenv, and run
``orchestrator list``, a smoke sweep and its table from an empty directory (issue 16 item 13).

The fresh venv reaches the already-installed dependencies through a ``.pth`` line (no network, no
torch download); that line adds the dependency folder as a plain path, so the editable install's
import hook there is never run and ``orchestrator`` comes from the wheel.
"""
from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# One group: both tests on one worker, so the wheel is built once. Built on both workers at once, the two
# `pip wheel` runs shared the checkout's build/ folder and one failed mid-copy (ENOENT, seen in a clean run).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("wheel")]


def _run(cmd, cwd, env=None, timeout=600):
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{cmd}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(ROOT)],
         cwd=dist)
    (whl,) = dist.glob("cv_orchestrator-*.whl")
    return whl


def test_wheel_ships_every_sweep_and_published_csv(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    data = next(n.split("/data/")[0] for n in names if ".data/data/" in n) + "/data/share/cv-orchestrator/"
    sweeps = {str(p.relative_to(ROOT)) for p in (ROOT / "sweeps").rglob("*.yaml")}
    missing = sorted(s for s in sweeps if data + s not in names)
    assert not missing, f"sweep files not in the wheel (add their folder to [tool.setuptools.data-files]): {missing}"
    published = {f"results/published/{p.name}" for p in (ROOT / "results" / "published").glob("*.csv")}
    assert published <= names


def test_installed_wheel_runs_from_an_empty_directory(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path).strip())
    (site / "deps_from_test.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q", str(wheel)],
         cwd=tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLFLOW_TRACKING_URI", "ORCHESTRATOR_SWEEPS")}
    env.update(ORCHESTRATOR_CACHE=str(tmp_path / "cache"), HOME=str(tmp_path))
    where = _run([str(py), "-c", "import orchestrator, orchestrator.spec as s; print(orchestrator.__file__); "
                  "print(s.SWEEPS_DIR)"], cwd=empty, env=env).splitlines()
    assert where[0].startswith(str(site)) and where[1].endswith("share/cv-orchestrator/sweeps")
    orchestrator = str(env_dir / "bin" / "orchestrator")
    listing = _run([orchestrator, "list", "--scale", "smoke"], cwd=empty, env=env)
    assert "palm/quickstart.yaml" in listing and "invalid" not in listing
    _run([orchestrator, "run", "palm/quickstart", "--scale", "smoke", "--local"], cwd=empty, env=env, timeout=900)
    table = _run([orchestrator, "tables", "palm-quickstart", "--scale", "smoke"], cwd=empty, env=env)
    assert "mean_error (paper)" in table and "43.5" in table  # the published CSV shipped with the wheel
    assert (empty / "mlruns.db").is_file() and (empty / "results" / "out" / "report.html").is_file()
