"""Table and figure definitions: what a paper table is, in terms of sweeps, params and metrics.

Each method declares its tables in ``results/tables/<method>.py`` by calling ``register_table``;
``results.tables`` imports them all. The renderer (``results.render``) reads MLflow and never invents
a cell.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from orchestrator.registry import ConfigError

PUBLISHED_DIR = Path(__file__).parent / "published"


def output_dir() -> Path:
    """Rendered tables and reports: ``$ORCHESTRATOR_RESULTS``; in a checkout ``results/out`` (ignored by
    git); in an installed package ``./results/out`` under the working directory, never site-packages."""
    env = os.environ.get("ORCHESTRATOR_RESULTS")
    if env:
        return Path(env).expanduser()
    here = Path(__file__).resolve().parent
    if (here.parent / "sweeps").is_dir() and (here.parent / "pyproject.toml").is_file():
        return here / "out"
    return Path.cwd() / "results" / "out"


OUT_DIR = output_dir()


@dataclass(frozen=True)
class TableSpec:
    """One paper table or figure.

    id:        ``<method>-table<N>`` / ``<method>-fig<N>`` (e.g. ``palm-table1``, ``compgs-fig3.4``).
    title:     what it shows, citing the paper ("PALM Table 1: CIFAR-10-C CTTA error (%)").
    paper:     group heading in the report: TTS, PALM, CMSF, SimReg, CompGS, NOLA, SlowFormer.
    sweeps:    sweep files relative to ``sweeps/`` that produce its runs (``palm/table1.yaml``); empty for a
               table no workload of this project runs (every row paper only: the published numbers alone).
    rows:      run params (resolved config keys) or tags (``seed`` excluded) whose values form the rows.
    columns:   run params whose values become column groups; empty means one column per metric.
    metrics:   summary metric names shown in the cells.
    filters:   params that must equal the given values for a run to count (``{"dataset": "cifar10c"}``).
    fmt:       Python format for a cell's mean (std uses the same); ``multiplier`` is applied first.
    published: CSV in ``results/published`` whose key columns are named like ``rows`` (values as in
               the sweeps' params) and whose other columns carry the rendered column labels.
    kind:      ``table`` or ``figure``; a figure also has ``plot(frame, out_png)`` drawing the
               aggregated frame (columns: rows + columns + ``<metric>_mean``, ``<metric>_std``, ``n``).
    quickstart: part of the ``quickstart`` set (one headline table per method).
    headline:  the metric read first (its columns lead, the other metrics go to a details table when the
               table would be too wide); empty: the first metric named ``mean*``/``avg*``, else ``metrics[0]``.
    """

    id: str
    title: str
    paper: str
    sweeps: tuple[str, ...]
    rows: tuple[str, ...]
    metrics: tuple[str, ...]
    columns: tuple[str, ...] = ()
    filters: dict[str, Any] = field(default_factory=dict)
    fmt: str = "{:.2f}"
    multiplier: float = 1.0
    published: str | None = None
    kind: Literal["table", "figure"] = "table"
    plot: Callable[..., None] | None = None
    quickstart: bool = False
    notes: str = ""
    headline: str = ""

    @property
    def headline_metric(self) -> str:
        if self.headline:
            return self.headline
        for m in self.metrics:
            if m.startswith(("mean", "avg")):
                return m
        return self.metrics[0]

    def __post_init__(self) -> None:
        if self.headline and self.headline not in self.metrics:
            raise ValueError(f"table {self.id}: headline {self.headline!r} is not one of its metrics {self.metrics}")
        if self.kind == "figure" and self.plot is None:
            raise ValueError(f"figure {self.id} needs a plot function")
        if not self.sweeps and not self.published:
            raise ValueError(f"table {self.id} names no sweep and no published CSV: it would render nothing")


class UnknownTableError(ConfigError):
    """A table id that no ``results/tables/*.py`` defines."""


_TABLES: dict[str, TableSpec] = {}


def register_table(spec: TableSpec) -> TableSpec:
    if spec.id in _TABLES and _TABLES[spec.id] != spec:
        raise ValueError(f"table id {spec.id!r} defined twice")
    _TABLES[spec.id] = spec
    return spec


def all_tables() -> dict[str, TableSpec]:
    import results.tables  # noqa: F401  (imports every method's definitions)

    return dict(sorted(_TABLES.items()))


def get_table(table_id: str) -> TableSpec:
    tables = all_tables()
    if table_id not in tables:
        raise UnknownTableError(
            f"unknown table {table_id!r}. Known: {', '.join(tables) or 'none'}. "
            f"Run `orchestrator list` to see every table with its status."
        )
    return tables[table_id]
