"""Where Ray Tune keeps trial state, checkpoints, artifacts in transit and the resume pointers.

A storage location is a string: a local or NFS path, or any URI pyarrow understands (``s3://``, ``gs://``,
``hdfs://``, ``file://``). URIs are handed to Tune unchanged (a ``?endpoint_override=...`` query included);
local paths are made absolute because Tune rejects relative ones. Every read and write here goes through
``pyarrow.fs`` so the same code serves a laptop folder and a bucket.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from orchestrator.spec import SweepError

STORAGE_ENV = "ORCHESTRATOR_STORAGE"
# Set to 1 when a local-looking path is in fact the same disk on every node (a bind mount, a FUSE
# filesystem we do not recognise): it silences the multi-node check.
SHARED_ENV = "ORCHESTRATOR_STORAGE_SHARED"
DEFAULT_DIRNAME = "ray_results"

# Filesystem types (as in /proc/mounts) whose content every node that mounts them sees.
NETWORK_FSTYPES = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "beegfs", "ceph", "glusterfs",
                   "fuse.glusterfs", "fuse.sshfs", "fuse.s3fs", "fuse.gcsfuse", "fuse.rclone", "fuse.juicefs",
                   "fuse.cephfs", "9p", "virtiofs", "afs", "orangefs", "wekafs", "panfs"}

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_uri(storage: str) -> bool:
    """``s3://bucket/x`` and ``file:///x`` are URIs; ``/x``, ``./x`` and ``~/x`` are paths."""
    return bool(_SCHEME.match(storage))


def resolve_storage(value: str | os.PathLike | None = None) -> str:
    """``--storage-path`` > ``$ORCHESTRATOR_STORAGE`` > ``./ray_results``; URIs unchanged, paths absolute.

    A URI pyarrow cannot open (unknown scheme, missing filesystem support) is an error here, before a
    single trial is scheduled, rather than a traceback from inside Tune.
    """
    raw = str(value) if value not in (None, "") else os.environ.get(STORAGE_ENV) or str(Path.cwd() / DEFAULT_DIRNAME)
    if not is_uri(raw):
        return str(Path(raw).expanduser().resolve())
    filesystem(raw)  # validate now
    return raw


def filesystem(storage: str):
    """``(pyarrow filesystem, path inside it)`` for a storage location."""
    import pyarrow.fs

    if not is_uri(storage):
        return pyarrow.fs.LocalFileSystem(), str(Path(storage).expanduser().resolve())
    try:
        return pyarrow.fs.FileSystem.from_uri(storage)
    except Exception as exc:  # pyarrow raises ArrowInvalid / ArrowNotImplementedError / OSError
        raise SweepError(
            f"storage {storage!r} cannot be opened by pyarrow ({str(exc).splitlines()[0]}). Use a local or NFS "
            f"path, or a URI such as s3://bucket/prefix, gs://bucket/prefix or hdfs://namenode:8020/prefix "
            f"(credentials and endpoints come from the usual environment, e.g. AWS_ENDPOINT_URL)."
        ) from None


def join(storage: str, *parts: str) -> str:
    """``storage/part/part`` keeping a URI's query string (``?endpoint_override=...``) at the end."""
    if not is_uri(storage):
        return str(Path(storage, *parts))
    base, sep, query = storage.partition("?")
    return "/".join([base.rstrip("/"), *[p.strip("/") for p in parts]]) + sep + query


def write_text(location: str, text: str) -> None:
    """Write a small file at ``location`` (a path or URI), creating its parent folders."""
    fs, path = filesystem(location)
    parent = path.rsplit("/", 1)[0]
    if parent:
        fs.create_dir(parent, recursive=True)
    with fs.open_output_stream(path) as out:
        out.write(text.encode())


def read_text(location: str) -> str | None:
    """The content of ``location``, or ``None`` when there is no such file."""
    import pyarrow.fs

    fs, path = filesystem(location)
    if fs.get_file_info(path).type != pyarrow.fs.FileType.File:
        return None
    with fs.open_input_stream(path) as src:
        return src.read().decode()


def pointer_location(storage: str, sweep_name: str, scale: str) -> str:
    """The resume pointer of a sweep at a scale: the last launch's Tune folder and MLflow parent run."""
    return join(storage, f"{sweep_name}-{scale}.latest.json")


def write_pointer(storage: str, sweep_name: str, scale: str, state: dict[str, Any]) -> None:
    write_text(pointer_location(storage, sweep_name, scale), json.dumps(state))


def read_pointer(storage: str, sweep_name: str, scale: str) -> dict[str, Any] | None:
    text = read_text(pointer_location(storage, sweep_name, scale))
    return json.loads(text) if text is not None else None


# -- can every node reach it? ------------------------------------------------------------------
def read_mounts(text: str | None = None) -> list[tuple[str, str]]:
    """``(mount point, fstype)`` pairs from /proc/mounts (or ``text`` in its format)."""
    if text is None:
        try:
            text = Path("/proc/mounts").read_text()
        except OSError:
            return []
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            # /proc/mounts escapes spaces in mount points as \040
            mounts.append((fields[1].replace("\\040", " "), fields[2]))
    return mounts


def fstype_of(path: str, mounts: list[tuple[str, str]]) -> str | None:
    """The filesystem type of the mount holding ``path`` (the longest mount point that contains it)."""
    best, best_type = "", None
    p = Path(path)
    for point, fstype in mounts:
        if (p == Path(point) or Path(point) in p.parents) and len(point) >= len(best):
            best, best_type = point, fstype
    return best_type


def is_node_local(storage: str, mounts: list[tuple[str, str]] | None = None) -> bool:
    """True for a path on this node's own disk (not NFS & co., not a URI), unless ``$ORCHESTRATOR_STORAGE_SHARED``."""
    if os.environ.get(SHARED_ENV, "").lower() in ("1", "true", "yes"):
        return False
    if is_uri(storage):
        if not storage.startswith("file://"):
            return False  # a bucket or HDFS: every node with credentials reaches it
        storage = storage[len("file://"):].partition("?")[0]
    fstype = fstype_of(storage, read_mounts() if mounts is None else mounts)
    return fstype not in NETWORK_FSTYPES


def check_reachable(storage: str, n_nodes: int, mounts: list[tuple[str, str]] | None = None) -> None:
    """Refuse a node-local storage path on a cluster of several nodes: trials elsewhere could not save."""
    if n_nodes <= 1 or not is_node_local(storage, mounts):
        return
    raise SweepError(
        f"the Ray cluster has {n_nodes} nodes but the storage path {storage} is on this node's own disk, so "
        f"trials on the other nodes could neither save checkpoints nor hand over artifacts, and a resume would "
        f"not find them. Pass --storage-path (or set {STORAGE_ENV}) to a location every node reaches: an NFS "
        f"path mounted on all nodes, or a bucket such as s3://BUCKET/ray_results or gs://BUCKET/ray_results. "
        f"If this path really is the same disk on every node, set {SHARED_ENV}=1."
    )


def alive_nodes() -> int:
    """Alive nodes of the connected Ray cluster."""
    import ray

    return sum(1 for node in ray.nodes() if node.get("Alive"))
