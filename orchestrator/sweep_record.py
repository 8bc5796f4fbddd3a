"""What a launch records about its sweep beside the runs: the resolved YAML, the description and the
data sets its trials read (MLflow dataset inputs). Pure functions of the ``Sweep``; no MLflow writes."""
from __future__ import annotations

import hashlib
import json
from typing import Any

import yaml

# Config fields that name the data a trial reads (the workloads' convention: ``dataset``, ``*_dataset``; CompGS
# reads a ``scene`` and, for shared codebooks, a ``codebook_scene``).
DATA_FIELD_SUFFIXES = ("dataset", "scene")
# Fields holding a list of data sets (SimReg's linear ``transfer`` targets, ``name[:options]``).
DATA_LIST_FIELDS = ("transfer",)


def resolved_sweep_yaml(sweep: Any) -> str:
    """The sweep as it ran: the chosen scale's overrides and any ``--set`` already applied."""
    doc: dict[str, Any] = {"name": sweep.name, "workload": sweep.workload, "scale": sweep.scale,
                           "source": str(sweep.path), "reproduces": sweep.reproduces,
                           "description": sweep_description(sweep) or None,
                           "params": sweep.params, "grid": sweep.grid, "seeds": sweep.seeds,
                           "resources": {"cpu": sweep.resources.cpu, "gpu": sweep.resources.gpu},
                           "max_concurrent": sweep.max_concurrent, "max_failures": sweep.max_failures}
    if sweep.search:
        doc["search"] = _model_dump(sweep.search)
    if sweep.scheduler:
        doc["scheduler"] = _model_dump(sweep.scheduler)
    if getattr(sweep, "sets", None):
        doc["set"] = sweep.sets
    return yaml.safe_dump({k: v for k, v in doc.items() if v not in (None, {}, [])}, sort_keys=False,
                          allow_unicode=True, default_flow_style=None)


def _model_dump(model: Any) -> Any:
    dump = getattr(model, "model_dump", None)
    return json.loads(json.dumps(dump(exclude_none=True) if dump else model, default=str))


def sweep_description(sweep: Any) -> str:
    """The sweep file's ``description:`` (the ``Sweep`` object does not carry it), else ``reproduces``."""
    try:
        doc = yaml.safe_load(sweep.path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        doc = {}
    text = str(doc.get("description") or "").strip()
    if sweep.reproduces:
        text = f"{text}\n\nReproduces: {sweep.reproduces}".strip()
    return text


def dataset_names(params: dict[str, Any]) -> dict[str, str]:
    """``{field: data set name}`` for every config field that names a data set (``transfer[i]`` for the i-th
    entry of a list field)."""
    out = {}
    for key, value in params.items():
        if any(key == suffix or key.endswith("_" + suffix) for suffix in DATA_FIELD_SUFFIXES):
            if isinstance(value, str) and value:
                out[key] = value
        elif key in DATA_LIST_FIELDS and isinstance(value, (list, tuple)):
            out.update({f"{key}[{i}]": str(v) for i, v in enumerate(value) if v})
    return out


def dataset_inputs(params: dict[str, Any], scale: str) -> list:
    """MLflow ``DatasetInput`` records for the data a trial reads: the name as configured, where it comes
    from at this scale (synthetic at smoke; the cache at mini; ``$ORCHESTRATOR_DATA`` at paper) and a
    digest of both, so runs on the same data group together in the UI's dataset filter."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    from orchestrator.context import default_cache_dir, default_data_root

    root = {"smoke": "synthetic (generated in the trial)", "mini": str(default_cache_dir()),
            "paper": str(default_data_root())}.get(scale, "")
    inputs = []
    for field, name in dataset_names(params).items():
        source = json.dumps({"scale": scale, "root": root, "field": field})
        digest = hashlib.sha1(f"{name}|{scale}|{root}".encode()).hexdigest()[:8]
        ds = Dataset(name=name, digest=digest, source_type="local" if scale != "smoke" else "code", source=source)
        inputs.append(DatasetInput(ds, tags=[InputTag("mlflow.data.context", field)]))
    return inputs


def headline_metric(sweep: Any) -> str | None:
    """The metric a reader looks at first: the search's objective, else the headline of the table the
    sweep reproduces (``results`` is optional: an orchestrator without it has no tables)."""
    if sweep.search:
        return sweep.search.metric
    if not sweep.reproduces:
        return None
    try:
        from results.spec import all_tables
    except ImportError:
        return None
    spec = all_tables().get(sweep.reproduces)
    return spec.headline_metric if spec else None
