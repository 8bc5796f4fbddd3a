"""The suite's `--dist loadgroup` only pays off if pytest-xdist really keeps each `xdist_group` on one worker:
the Ray session, the fault matrix and the shared smoke-sweep store are set up once per worker that runs one of
their tests. pytest 9.2 stores node ids in a structured field that xdist 3.8 does not update (pytest-xdist issue
1386), so the group suffix is silently lost and every group is spread over the workers; the dev extra pins
pytest below 9.2 and this check turns a repeat of that into failing tests that say why (an error raised during
a worker's collection never reaches the console)."""
from __future__ import annotations

import os

import pytest

LOST = pytest.StashKey[str]()


def group_suffix(item: pytest.Item) -> str | None:
    """The ``@name`` xdist appends to a grouped test's node id under ``--dist loadgroup`` (names sorted, joined
    by ``_``, as xdist.remote does), or None for a test without an ``xdist_group`` mark."""
    names = {str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in item.iter_markers("xdist_group")}
    return "@" + "_".join(sorted(names)) if names else None


def check_groups_kept(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker under ``--dist loadgroup``, after xdist's own collection hook: note (in ``config.stash``)
    the grouped tests whose node id lacks its group suffix; ``fail_if_groups_lost`` then fails them."""
    if not os.environ.get("PYTEST_XDIST_WORKER") or not getattr(config.option, "loadgroup", False):
        return
    lost = [item.nodeid for item in items if (s := group_suffix(item)) and not item.nodeid.endswith(s)]
    if lost:
        import xdist

        config.stash[LOST] = (
            f"pytest {pytest.__version__} with pytest-xdist {xdist.__version__} drops the xdist_group of each test "
            f"under --dist loadgroup (pytest-xdist issue 1386; here {len(lost)} grouped tests have no '@group' "
            f"suffix), so every group would be spread over the workers and its session fixtures (Ray, the fault "
            f"matrix, the smoke-sweep store) set up once per worker. Install the pytest the dev extra pins "
            f"(`.venv/bin/pip install -e '.[dev]'`; `make test` does it when pyproject.toml changed) or run "
            f"without -n.")


def fail_if_groups_lost(item: pytest.Item) -> None:
    """Fail a grouped test before its set-up when ``check_groups_kept`` found the groups lost: the first such test
    of a worker with the whole explanation, the others pointing to it."""
    message = item.config.stash.get(LOST, None)
    if message is None or group_suffix(item) is None:
        return
    item.config.stash[LOST] = "xdist groups lost under --dist loadgroup: see this worker's first failed grouped test"
    pytest.fail(message, pytrace=False)
