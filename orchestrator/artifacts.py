"""Artifacts and checkpoints from wherever a trial ran to the trial's MLflow run.

Trials on another node cannot hand the driver a file path: their disk is not the driver's. So the trial
copies each artifact into its Tune trial folder in the storage (a bucket or NFS that every node reaches)
and reports that storage path; the driver reads it from there and logs it to MLflow (one writer, as for
metrics). Checkpoints are already in the storage (Tune put them there); the driver logs a trial's latest
checkpoint when the trial ends. A file that cannot be moved is never dropped silently: the run gets an
``orchestrator.missing_artifacts`` tag and the driver's log a warning naming it and why.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

ARTIFACTS = "_artifacts"          # storage paths of the artifacts of this event, one a line
MISSING = "_artifacts_missing"    # "name: reason" lines for artifacts the trial could not copy
NODE = "_node"                    # Ray node id the trial runs on (MLflow tag orchestrator.node)
MISSING_TAG = "orchestrator.missing_artifacts"
NODE_TAG = "orchestrator.node"
NODES_TAG = "orchestrator.nodes"  # every node the trial ran on, in order (retries after a node loss)
CHECKPOINT_DIR = "checkpoint"     # artifact folder of a run's latest checkpoint

log = logging.getLogger("orchestrator.artifacts")


# -- trial side ----------------------------------------------------------------------------------
def upload_to_storage(local: Path, name: str, storage_fs, trial_fs_path: str) -> str:
    """Copy ``local`` to ``<trial folder in the storage>/artifacts/<name>``; return that storage path."""
    import pyarrow.fs

    dest = f"{trial_fs_path.rstrip('/')}/artifacts/{name}"
    storage_fs.create_dir(dest.rsplit("/", 1)[0], recursive=True)
    pyarrow.fs.copy_files(str(local), dest, source_filesystem=pyarrow.fs.LocalFileSystem(),
                          destination_filesystem=storage_fs)
    return dest


def trial_storage():
    """``(filesystem, trial folder)`` of the running Tune trial in the configured storage.

    Ray's ``StorageContext`` is a developer API (it may move between Ray minor versions); keeping its
    only use here means one place to adapt.
    """
    from ray import tune

    storage = tune.get_context().get_storage()
    return storage.storage_filesystem, storage.trial_fs_path


def node_id() -> str:
    import ray

    return ray.get_runtime_context().get_node_id()


# -- driver side ---------------------------------------------------------------------------------
class TrialOutputs:
    """Driver-side: logs the artifacts a result names and a trial's last checkpoint to its MLflow run."""

    def __init__(self, recorder: Any):
        self.recorder = recorder
        self.missing: dict[str, list[str]] = {}
        self.nodes: dict[str, list[str]] = {}

    def on_result(self, run_id: str, result: dict[str, Any], storage_fs) -> None:
        """Log every artifact a Tune result announces; record the node and any artifact the trial lost."""
        node = result.get(NODE)
        if node:
            self._note_node(run_id, str(node))
        for line in str(result.get(MISSING, "") or "").splitlines():
            if line:
                self._warn(run_id, line)
        for path in str(result.get(ARTIFACTS, "") or "").splitlines():
            if path:
                self.log_from_storage(run_id, path, storage_fs)

    def log_from_storage(self, run_id: str, path: str, storage_fs, subdir: str | None = None) -> bool:
        """Copy one file from the storage into MLflow; a failure becomes a warning on the run."""
        import pyarrow.fs

        name = path.rsplit("/", 1)[-1]
        try:
            if isinstance(storage_fs, pyarrow.fs.LocalFileSystem):
                if not Path(path).is_file():
                    raise FileNotFoundError(f"{path} is not on the driver's disk")
                self.recorder.log_artifact(run_id, path, subdir)
                return True
            with tempfile.TemporaryDirectory(prefix="artifact-") as tmp:
                local = Path(tmp) / name
                with storage_fs.open_input_stream(path) as src, open(local, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                self.recorder.log_artifact(run_id, local, subdir)
            return True
        except Exception as exc:  # storage unreachable, file gone, artifact store refusing the upload
            self._warn(run_id, f"{(subdir + '/') if subdir else ''}{name}: {type(exc).__name__}: {exc}")
            return False

    def on_trial_end(self, run_id: str, trial: Any) -> None:
        """Log the trial's latest Tune checkpoint (every file of it) under ``checkpoint/``."""
        try:
            ckpt = trial.checkpoint
        except Exception as exc:
            self._warn(run_id, f"{CHECKPOINT_DIR}: Tune could not name the latest checkpoint ({exc})")
            return
        if ckpt is None:
            return
        self.log_checkpoint(run_id, ckpt.filesystem, ckpt.path)

    def log_checkpoint(self, run_id: str, fs, folder: str) -> None:
        import pyarrow.fs

        try:
            infos = fs.get_file_info(pyarrow.fs.FileSelector(folder, recursive=True))
        except Exception as exc:
            self._warn(run_id, f"{CHECKPOINT_DIR}: cannot list {folder} ({type(exc).__name__}: {exc})")
            return
        files = [i.path for i in infos if i.type == pyarrow.fs.FileType.File
                 and not i.path.rsplit("/", 1)[-1].startswith(".")]  # Tune's own .metadata files
        if not files:
            self._warn(run_id, f"{CHECKPOINT_DIR}: the latest checkpoint folder {folder} is empty")
        for path in files:
            rel = path[len(folder.rstrip("/")) + 1:]
            sub = "/".join([CHECKPOINT_DIR, *rel.split("/")[:-1]])
            self.log_from_storage(run_id, path, fs, subdir=sub)

    def _note_node(self, run_id: str, node: str) -> None:
        seen = self.nodes.setdefault(run_id, [])
        if seen and seen[-1] == node:
            return
        seen.append(node)
        self.recorder.client.set_tag(run_id, NODE_TAG, node)
        self.recorder.client.set_tag(run_id, NODES_TAG, ",".join(seen))

    def _warn(self, run_id: str, what: str) -> None:
        items = self.missing.setdefault(run_id, [])
        items.append(what)
        log.warning("run %s: artifact not recorded in MLflow: %s", run_id, what)
        try:
            self.recorder.client.set_tag(run_id, MISSING_TAG, "; ".join(items)[:4900])
        except Exception as exc:  # the tracking store itself is down: the log line above is all we can do
            log.warning("run %s: could not tag the missing artifact either (%s)", run_id, exc)
