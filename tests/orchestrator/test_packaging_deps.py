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
# Imported only behind a guard, for optional features (not required by a plain install): module -> the
# distribution that provides it, which an extra of pyproject.toml must declare.
OPTIONAL = {"gsplat": "gsplat", "psycopg2": "psycopg2-binary"}
# Declared with an environment marker: module -> distribution (imported only where the marker holds).
CONDITIONAL = {"tomli": "tomli"}
# What the test suite imports from the dev extra but that no package imports.
TEST_ONLY_PACKAGES = ("tests",)


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[; ]", req, maxsplit=1)[0].lower().replace("_", "-")


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _declared() -> dict[str, str]:
    return {_name(req): req for req in _project()["dependencies"]}


def _extras() -> dict[str, set[str]]:
    return {extra: {_name(r) for r in reqs} for extra, reqs in _project().get("optional-dependencies", {}).items()}


def _imported_top_level(packages=PACKAGES) -> set[str]:
    mods = set()
    for pkg in packages:
        for path in (ROOT / pkg).rglob("*.py"):
            if "out" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    mods.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    mods.add(node.module.split(".")[0])
    local = {*PACKAGES, "tests", "support", "conftest"}  # the repository's own (tests import support.*)
    return {m for m in mods if m not in sys.stdlib_module_names and m not in local and m != "__future__"}


def test_every_import_is_declared_and_every_declaration_used():
    declared = _declared()
    dists = metadata.packages_distributions()
    imported_dists = set()
    undeclared = []
    for mod in sorted(_imported_top_level()):
        if mod in OPTIONAL:
            continue
        if mod in CONDITIONAL:
            assert CONDITIONAL[mod] in declared and ";" in declared[CONDITIONAL[mod]], declared.get(CONDITIONAL[mod])
            imported_dists.add(CONDITIONAL[mod])
            continue
        names = {d.lower().replace("_", "-") for d in dists.get(mod, [])}
        hit = names & set(declared)
        if not hit:
            undeclared.append(f"{mod} (from {sorted(names) or 'no installed distribution'})")
        imported_dists |= hit
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"
    unused = sorted(set(declared) - imported_dists - set(INDIRECT))
    assert not unused, f"declared but never imported (remove, or add to INDIRECT with the reason): {unused}"


def test_optional_imports_are_declared_in_an_extra():
    in_extras = set().union(*_extras().values())
    imported = _imported_top_level()
    assert set(OPTIONAL) <= imported, f"OPTIONAL lists modules no package imports: {set(OPTIONAL) - imported}"
    missing = {mod: dist for mod, dist in OPTIONAL.items() if dist not in in_extras}
    assert not missing, f"guarded imports whose distribution no extra of pyproject.toml declares: {missing}"


def test_the_test_suite_imports_only_declared_distributions():
    """What the tests import comes from the dependencies or the ``dev`` extra (CI installs ``.[dev]``)."""
    allowed = set(_declared()) | _extras()["dev"]
    dists = metadata.packages_distributions()
    undeclared = []
    for mod in sorted(_imported_top_level(TEST_ONLY_PACKAGES)):
        if mod in OPTIONAL or mod in CONDITIONAL:
            continue
        names = {d.lower().replace("_", "-") for d in dists.get(mod, [])}
        if not names & allowed:
            undeclared.append(f"{mod} (from {sorted(names) or 'no installed distribution'})")
    assert not undeclared, f"tests import these, but neither the dependencies nor the dev extra declare them: {undeclared}"
