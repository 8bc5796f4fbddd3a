"""``declare`` registers a workload without importing its function: the module named by ``entry`` is imported
the first time ``Workload.fn`` is read (a trial runs), never by validation (``build_config``)."""
from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest

from orchestrator.registry import ConfigError, build_config, declare, get_workload, register


@dataclass
class LazyConfig:
    steps: int = 1  # a field to validate


def test_the_function_module_is_imported_only_when_fn_is_read(tmp_path, monkeypatch):
    (tmp_path / "lazy_probe_module.py").write_text("def run(cfg, ctx):\n    return ('ran', cfg.steps)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    declare("lazy_probe", config=LazyConfig, entry="lazy_probe_module:run", metrics=("loss",))
    wl = get_workload("lazy_probe")
    assert build_config(wl, {"steps": 3}) == LazyConfig(3) and wl.module == "lazy_probe_module"
    assert wl.reports("loss") and not wl.reports("accuracy")
    assert "lazy_probe_module" not in sys.modules  # validating imported nothing
    assert wl.fn(LazyConfig(2), None) == ("ran", 2)
    assert "lazy_probe_module" in sys.modules
    # the module decorating the same function again (an old-style @register) is the same workload
    register("lazy_probe", config=LazyConfig)(sys.modules["lazy_probe_module"].run)
    with pytest.raises(ValueError, match="registered twice"):
        register("lazy_probe", config=LazyConfig)(lambda cfg, ctx: None)


def test_bad_entries_are_clear_errors(tmp_path, monkeypatch):
    with pytest.raises(TypeError, match="package.module:function"):
        declare("lazy_bad", config=LazyConfig, entry="no_colon_here")
    (tmp_path / "lazy_empty_module.py").write_text("x = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    declare("lazy_missing_fn", config=LazyConfig, entry="lazy_empty_module:run")
    with pytest.raises(ConfigError, match="defines no 'run'"):
        get_workload("lazy_missing_fn").fn
