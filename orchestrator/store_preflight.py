"""Check the MLflow store before anything runs, and create a new SQLite store's schema under a file lock.

Without this an unreachable tracking server took 262 s of MLflow's retries and ended in a traceback; an
unknown scheme, a corrupt database, an unwritable folder or a read-only artifact folder also ended in
tracebacks, some after trials had run. Two launches on a NEW SQLite store raced in MLflow's schema
migration and one crashed. Every check here answers within a few seconds with one paragraph naming the
cause and the fix (``StoreError``, exit code 2 in the CLI).
"""
from __future__ import annotations

import os
import socket
import sqlite3
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from filelock import FileLock, Timeout

from orchestrator.spec import SweepError

# Schemes MLflow's tracking client accepts (store registry of mlflow.tracking._tracking_service.utils).
KNOWN_SCHEMES = ("sqlite", "file", "http", "https", "postgresql", "mysql", "mssql", "databricks", "databricks-uc")
NETWORK_TIMEOUT_S = 5.0
LOCK_TIMEOUT_S = 120.0
SQLITE_HEADER = b"SQLite format 3\x00"


class StoreError(SweepError):
    """The tracking store cannot be used; the message says why and what to do."""


def sqlite_path(uri: str) -> Path | None:
    if not uri.startswith("sqlite:"):
        return None
    rest = uri[len("sqlite:"):]
    if not rest.startswith("///"):
        raise StoreError(f"tracking URI {uri!r}: a SQLite store is written sqlite:///relative/path.db or "
                         f"sqlite:////absolute/path.db (three or four slashes).")
    return Path(rest[3:]).expanduser()


def _writable_dir(folder: Path, what: str, uri: str) -> None:
    if not folder.is_dir():
        raise StoreError(f"{what} {folder} does not exist (tracking URI {uri!r}). Create the folder, or point "
                         f"--tracking-uri / MLFLOW_TRACKING_URI at an existing one.")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".orchestrator-write-check-"):
            pass
    except OSError as exc:
        raise StoreError(f"{what} {folder} is not writable ({exc.strerror}); runs and artifacts could not be "
                         f"recorded (tracking URI {uri!r}). Fix its permissions, or run from a writable folder / "
                         f"point --tracking-uri at a writable location.") from None


def _check_sqlite(uri: str, db: Path) -> None:
    _writable_dir(db.parent if str(db.parent) else Path("."), "the folder of the MLflow database", uri)
    if db.exists() and db.stat().st_size > 0:
        with open(db, "rb") as fh:
            header = fh.read(len(SQLITE_HEADER))
        if header != SQLITE_HEADER:
            raise StoreError(f"{db} is not a SQLite database (its first bytes are {header[:16]!r}); the MLflow "
                             f"store is corrupt or another file has this name. Move it away and run again (a new "
                             f"store is created), or point --tracking-uri at the right file.")
        try:
            # Read-write on purpose: a writer killed mid-transaction leaves a hot journal that SQLite rolls back
            # on the first read-write open (a read-only open would fail on it and look like corruption).
            con = sqlite3.connect(str(db), timeout=NETWORK_TIMEOUT_S)
            try:
                con.execute("select count(*) from sqlite_master").fetchone()
                row = con.execute("pragma quick_check(1)").fetchone()
            finally:
                con.close()
        except sqlite3.DatabaseError as exc:
            text = str(exc).lower()
            if "locked" in text or "busy" in text:
                return  # another launch is writing right now; MLflow waits for it
            if "readonly" in text or "read-only" in text:
                raise StoreError(f"{db}: the MLflow database is read-only ({exc}); runs could not be recorded. Fix "
                                 f"its permissions, or point --tracking-uri at a writable store.") from None
            raise StoreError(f"{db}: the MLflow database cannot be read ({exc}); it is corrupt. Move it away and "
                             f"run again (a new store is created), or restore it from a backup.") from None
        if row and row[0] != "ok":
            raise StoreError(f"{db}: SQLite integrity check failed ({row[0]}); the MLflow store is corrupt. Move "
                             f"it away and run again, or restore it from a backup.")
    artifacts = db.parent / "mlartifacts"
    if artifacts.exists():
        _writable_dir(artifacts, "the artifact folder", uri)


def _check_server(uri: str) -> None:
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=NETWORK_TIMEOUT_S) as resp:  # noqa: S310 (user-given server)
            resp.read(64)
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            return  # reachable; credentials are MLflow's business (MLFLOW_TRACKING_TOKEN / USERNAME)
        raise StoreError(f"MLflow tracking server {uri} answered {exc.code} {exc.reason} at {url}; is it an MLflow "
                         f"server? Check --tracking-uri / MLFLOW_TRACKING_URI.") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise StoreError(f"MLflow tracking server {uri} is not reachable within {NETWORK_TIMEOUT_S:g} s ({reason}). "
                         f"Start it (`mlflow server ...`), fix the address in --tracking-uri / MLFLOW_TRACKING_URI, "
                         f"or unset it to record into the local ./mlruns.db.") from None


def _check_database_server(uri: str) -> None:
    parsed = urlparse(uri)
    port = parsed.port or {"postgresql": 5432, "mysql": 3306, "mssql": 1433}.get(parsed.scheme.split("+")[0])
    try:
        with socket.create_connection((parsed.hostname or "localhost", port), timeout=NETWORK_TIMEOUT_S):
            pass
    except OSError as exc:
        raise StoreError(f"database server of tracking URI {parsed.scheme}://{parsed.hostname}:{port} is not "
                         f"reachable within {NETWORK_TIMEOUT_S:g} s ({exc}). Start it or fix --tracking-uri.") from None


def preflight(uri: str) -> None:
    """Raise ``StoreError`` (one paragraph) unless the store at ``uri`` is usable; returns within ~10 s."""
    parsed = urlparse(uri)
    scheme = parsed.scheme.split("+")[0].lower()
    if scheme == "" or (len(scheme) == 1 and os.name == "nt"):
        _writable_dir(Path(uri).expanduser().parent, "the folder of the MLflow file store", uri)
        return
    if scheme not in KNOWN_SCHEMES:
        raise StoreError(f"tracking URI {uri!r} has an unknown scheme {parsed.scheme!r}; MLflow accepts "
                         f"{', '.join(KNOWN_SCHEMES)}. Use e.g. sqlite:///mlruns.db (local, no server) or "
                         f"http://HOST:5000 (an MLflow server).")
    if scheme == "sqlite":
        _check_sqlite(uri, sqlite_path(uri))
    elif scheme == "file":
        _writable_dir(Path(parsed.path).parent, "the folder of the MLflow file store", uri)
    elif scheme in ("http", "https"):
        _check_server(uri)
    elif scheme in ("postgresql", "mysql", "mssql"):
        _check_database_server(uri)


def store_lock(uri: str):
    """A file lock beside a SQLite store (schema creation and experiment creation happen under it)."""
    db = sqlite_path(uri)
    if db is None:
        return _NoLock()
    return FileLock(str(db) + ".lock", timeout=LOCK_TIMEOUT_S)


class _NoLock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def open_recorder(uri: str, experiment_name: str):
    """Preflight the store, then create the MLflow schema (new store) and experiment under the lock."""
    from orchestrator.tracking import Recorder

    preflight(uri)
    try:
        with store_lock(uri):
            recorder = Recorder(uri, experiment_name)
            recorder.client.search_runs([recorder.experiment_id], max_results=1)
    except Timeout:
        raise StoreError(f"another launch has held the lock of the MLflow store {uri} for {LOCK_TIMEOUT_S:g} s; if no "
                         f"other orchestrator is running, delete {sqlite_path(uri)}.lock and run again.") from None
    _check_experiment_artifacts(recorder, uri)
    return recorder


def _check_experiment_artifacts(recorder, uri: str) -> None:
    exp = recorder.client.get_experiment(recorder.experiment_id)
    location = exp.artifact_location or ""
    if location.startswith("file:"):
        folder = Path(urlparse(location).path)
        probe = folder if folder.exists() else folder.parent
        if probe.exists():
            _writable_dir(probe, f"the artifact folder of experiment {exp.name!r}", uri)
