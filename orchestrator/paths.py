"""Where the sweep files are, in a checkout and in a plain (non-editable) ``pip install .``.

The rule, first match wins:
1. ``$ORCHESTRATOR_SWEEPS`` (a folder laid out like ``sweeps/``);
2. the checkout's ``sweeps/`` beside the ``orchestrator`` package (a clone, an editable install);
3. the copy installed with the wheel (``share/cv-orchestrator/sweeps``, declared as data files in
   pyproject.toml), found through the distribution's file list so every install scheme works
   (virtualenv, ``--user``; ``--target DIR`` records wrong paths, so ``DIR/share/...`` is also tried).
A sweep given as a path is always read from that path.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

SWEEPS_ENV = "ORCHESTRATOR_SWEEPS"
DISTRIBUTION = "cv-orchestrator"
INSTALLED_PARTS = ("share", "cv-orchestrator", "sweeps")


def checkout_root() -> Path:
    return Path(__file__).resolve().parent.parent


def installed_sweeps_dir() -> Path | None:
    from importlib import metadata

    try:
        files = metadata.distribution(DISTRIBUTION).files or []
    except metadata.PackageNotFoundError:
        return None
    n = len(INSTALLED_PARTS)
    for f in files:
        parts = f.parts
        for i in range(len(parts) - n):
            if parts[i:i + n] == INSTALLED_PARTS:
                located = Path(f.locate()).resolve()  # the file; its folder i + n parts deep is sweeps/
                for _ in range(len(parts) - (i + n)):
                    located = located.parent
                if located.is_dir():
                    return located
    return None


def sweeps_dir() -> Path:
    env = os.environ.get(SWEEPS_ENV)
    if env:
        return Path(env).expanduser().resolve()
    checkout = checkout_root() / "sweeps"
    if checkout.is_dir():
        return checkout
    for candidate in (installed_sweeps_dir(), Path(sys.prefix).joinpath(*INSTALLED_PARTS),
                      checkout_root().joinpath(*INSTALLED_PARTS)):  # the last: `pip install --target DIR`
        if candidate is not None and candidate.is_dir():
            return candidate
    return checkout
