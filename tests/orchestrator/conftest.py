from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import support.toy_workloads  # noqa: F401  (registers toy_quadratic, toy_flaky)


@pytest.fixture
def write_sweep(tmp_path: Path):
    """Write a sweep YAML (dedented) into tmp_path and return its path."""

    def write(text: str, name: str = "sweep.yaml") -> Path:
        p = tmp_path / name
        p.write_text(textwrap.dedent(text))
        return p

    return write


