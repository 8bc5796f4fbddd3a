"""Refresh docs/mlflow-ui.png: a real sweep recorded by the orchestrator, as the MLflow UI shows it.

    .venv/bin/python docs/make_screenshot.py [--sweep palm/quickstart] [--scale smoke] [--store DIR]
                                             [--page runs|parent|chart] [--out docs/mlflow-ui.png]

Runs the sweep in-process (``run --local``) into a private store (a fresh temporary folder unless
``--store`` names one that already has runs), renders its tables onto the parent run, starts
``mlflow ui`` on 127.0.0.1 and takes a headless Chromium screenshot of the experiment's chart view
(``--page chart``: the headline metric's section first, the trials named by what varies), its runs
table (``runs``) or the parent run's artifacts (``parent``: the rendered table). Needs ``chromium`` on
PATH (Debian: ``apt-get install chromium``).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def record(sweep_name: str, scale: str, uri: str) -> None:
    sys.path.insert(0, str(ROOT))
    from orchestrator.local import run_local
    from orchestrator.spec import load_sweep
    from results.reproduce import render_tables
    from results.spec import all_tables

    sweep = load_sweep(sweep_name, scale)
    run_local(sweep, tracking_uri=uri)
    tables = [t for t in all_tables().values() if sweep.rel_path in t.sweeps]
    render_tables(tables, scale, uri, out_dir=Path(tempfile.mkdtemp(prefix="ui-tables-")))


def page_url(base: str, uri: str, experiment: str, page: str) -> str:
    import mlflow

    client = mlflow.MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise SystemExit(f"experiment {experiment!r} is not in {uri}; run without --store to record it first")
    if page == "runs":
        return f"{base}/#/experiments/{exp.experiment_id}/runs"
    if page == "chart":
        return f"{base}/#/experiments/{exp.experiment_id}/runs?compareRunsMode=CHART"
    parents = client.search_runs([exp.experiment_id], "tags.`orchestrator.role` = 'parent'",
                                 order_by=["attributes.start_time DESC"], max_results=1)
    rid = parents[0].info.run_id
    tables = [a.path for a in client.list_artifacts(rid, "tables") if a.path.endswith(".md")]
    return f"{base}/#/experiments/{exp.experiment_id}/runs/{rid}/artifacts" + (f"/{tables[0]}" if tables else "")


# Run in the page before the shot: close the assistant side panel and expand parent runs, so the
# trial runs (named by what varies) are visible under their parent.
PAGE_SCRIPT = """(() => {
  const close = Array.from(document.querySelectorAll('button')).find(b => b.getAttribute('aria-label') === 'Close');
  if (close) close.click();
  document.querySelectorAll('button[data-component-id$="runnamecellrenderer.tsx_46"]').forEach(b => b.click());
  return true;
})()"""


READY_SCRIPT = "document.querySelectorAll('a[href*=\"/runs/\"]').length > 0"
CHARTS_SCRIPT = "document.querySelectorAll('.js-plotly-plot').length >= 2"


async def screenshot(browser: str, url: str, out: Path, width: int, height: int, settle_s: float = 240.0) -> None:
    """Headless Chromium driven over the DevTools protocol (aiohttp comes with ray[default])."""
    import asyncio
    import base64

    import aiohttp

    port = free_port()
    proc = subprocess.Popen([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                             f"--remote-debugging-port={port}", f"--window-size={width},{height}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        async with aiohttp.ClientSession() as http:
            pages = []
            for _ in range(60):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
                        pages = [p for p in await resp.json() if p["type"] == "page"]
                except aiohttp.ClientError:
                    pass
                if pages:
                    break
                await asyncio.sleep(1)
            if not pages:
                raise SystemExit("chromium did not open its DevTools port")
            ws = await http.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0)
            counter = iter(range(1, 10**6))

            async def call(method: str, **params):
                mid = next(counter)
                await ws.send_json({"id": mid, "method": method, "params": params})
                while True:
                    msg = await ws.receive_json()
                    if msg.get("id") == mid:
                        return msg.get("result", {})

            await call("Page.enable")
            await call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                       mobile=False)
            await call("Page.navigate", url=url)

            async def until(expression: str, timeout_s: float) -> bool:
                # the UI fetches its runs and draws its charts well after the page has loaded
                t0 = time.monotonic()
                while time.monotonic() - t0 < timeout_s:
                    done = await call("Runtime.evaluate", expression=expression, returnByValue=True)
                    if done.get("result", {}).get("value"):
                        return True
                    await asyncio.sleep(2)
                return False

            await until(READY_SCRIPT, settle_s)
            await call("Runtime.evaluate", expression=PAGE_SCRIPT, returnByValue=True)
            await until(CHARTS_SCRIPT, settle_s)
            await asyncio.sleep(5)
            shot = await call("Page.captureScreenshot", format="png")
            out.write_bytes(base64.b64decode(shot["data"]))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)


def wait_for(url: str, timeout_s: float = 300.0) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout_s:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(1)
    raise SystemExit(f"MLflow UI did not answer at {url} within {timeout_s:.0f} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sweep", default="palm/quickstart")
    ap.add_argument("--scale", default="smoke")
    ap.add_argument("--store", default=None, help="folder holding mlruns.db (default: a fresh temporary one)")
    ap.add_argument("--page", choices=("runs", "parent", "chart"), default="chart")
    ap.add_argument("--out", default=str(ROOT / "docs" / "mlflow-ui.png"))
    ap.add_argument("--size", default="1600,1000")
    args = ap.parse_args(argv)
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        raise SystemExit("no chromium on PATH: install it (Debian: apt-get install chromium) and run again")

    store = Path(args.store or tempfile.mkdtemp(prefix="ui-store-")).resolve()
    store.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{store / 'mlruns.db'}"
    os.environ.setdefault("ORCHESTRATOR_CACHE", str(store / "cache"))
    if not (store / "mlruns.db").exists():
        record(args.sweep, args.scale, uri)
    import yaml

    sys.path.insert(0, str(ROOT))
    from orchestrator.spec import resolve_path

    experiment = yaml.safe_load(resolve_path(args.sweep).read_text())["name"]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
                               "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for(base + "/health")
        url = page_url(base, uri, experiment, args.page)
        out = Path(args.out).resolve()
        out.parent.mkdir(parents=True, exist_ok=True)
        width, height = (int(v) for v in args.size.split(","))
        asyncio.run(screenshot(browser, url, out, width, height))
        print(f"{out} ({url})")
    finally:
        # mlflow ui starts uvicorn and job workers as children: stop the whole group it leads
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
