"""Declared dependencies are the ones imported (issue 16 item 15): every third-party module the packages
import comes from a declared distribution, and every declared distribution is imported (or named here
with the reason it is needed without an import)."""
from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("orchestrator", "workloads", "results")
# Needed at run time without an import statement of their own.
INDIRECT = {
    "optuna": "ray.tune.search.optuna.OptunaSearch imports it",
    "setuptools": "imagecorruptions imports pkg_resources",
    "opencv-python-headless": "imported as cv2; imagecorruptions needs it",
}
# Imported only behind a guard, for optional features (not required by a plain install).
OPTIONAL = {"gsplat", "psycopg2", "tomli"}


def _declared() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {}
    for req in project["dependencies"]:
        name = re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0]
        names[name.lower().replace("_", "-")] = req
    return names


def _imported_top_level() -> set[str]:
    mods = set()
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            if "out" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    mods.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    mods.add(node.module.split(".")[0])
    return {m for m in mods if m not in sys.stdlib_module_names and m not in PACKAGES and m != "__future__"}


def test_every_import_is_declared_and_every_declaration_used():
    declared = _declared()
    dists = metadata.packages_distributions()
    imported_dists = set()
    undeclared = []
    for mod in sorted(_imported_top_level()):
        if mod in OPTIONAL:
            continue
        names = {d.lower().replace("_", "-") for d in dists.get(mod, [])}
        hit = names & set(declared)
        if not hit:
            undeclared.append(f"{mod} (from {sorted(names) or 'no installed distribution'})")
        imported_dists |= hit
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"
    unused = sorted(set(declared) - imported_dists - set(INDIRECT))
    assert not unused, f"declared but never imported (remove, or add to INDIRECT with the reason): {unused}"
