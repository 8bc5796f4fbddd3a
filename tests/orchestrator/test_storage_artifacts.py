"""orchestrator.artifacts: files reach MLflow through the storage (local folder or S3), none silently lost."""
from __future__ import annotations

import logging
from pathlib import Path

import pyarrow.fs
import pytest

from orchestrator.artifacts import MISSING, MISSING_TAG, NODE, NODE_TAG, NODES_TAG, ARTIFACTS, TrialOutputs, \
    upload_to_storage


class FakeClient:
    def __init__(self):
        self.tags: dict[tuple[str, str], str] = {}

    def set_tag(self, run_id, key, value):
        self.tags[(run_id, key)] = value


class FakeRecorder:
    """Keeps what would be logged: (run id, artifact folder, file name, bytes)."""

    def __init__(self, fail: bool = False):
        self.client = FakeClient()
        self.logged: list[tuple[str, str | None, str, bytes]] = []
        self.fail = fail

    def log_artifact(self, run_id, path, subdir=None):
        if self.fail:
            raise PermissionError("artifact store is read-only")
        p = Path(path)
        self.logged.append((run_id, subdir, p.name, p.read_bytes()))


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A moto S3 server on 127.0.0.1 and a pyarrow filesystem pointed at it."""
    boto3 = pytest.importorskip("boto3")
    server_mod = pytest.importorskip("moto.server")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    boto3.client("s3", endpoint_url=f"http://{host}:{port}", aws_access_key_id="t", aws_secret_access_key="t",
                 region_name="us-east-1").create_bucket(Bucket="bkt")
    fs = pyarrow.fs.S3FileSystem(access_key="t", secret_key="t", region="us-east-1", scheme="http",
                                 endpoint_override=f"{host}:{port}")
    yield fs
    server.stop()


@pytest.mark.parametrize("where", ["local", "s3"])
def test_artifact_goes_through_the_storage_byte_for_byte(where, tmp_path, request):
    fs = request.getfixturevalue("s3") if where == "s3" else pyarrow.fs.LocalFileSystem()
    trial_dir = "bkt/exp/trial_00001" if where == "s3" else str(tmp_path / "storage" / "exp" / "trial_00001")
    src = tmp_path / "patch.bin"
    src.write_bytes(bytes(range(256)) * 9)
    stored = upload_to_storage(src, "patch.bin", fs, trial_dir)
    assert stored == f"{trial_dir}/artifacts/patch.bin"
    rec = FakeRecorder()
    outputs = TrialOutputs(rec)
    outputs.on_result("run1", {ARTIFACTS: stored, NODE: "node-a"}, fs)
    assert rec.logged == [("run1", None, "patch.bin", src.read_bytes())]
    assert rec.client.tags == {("run1", NODE_TAG): "node-a", ("run1", NODES_TAG): "node-a"}


def test_missing_artifacts_become_a_tag_and_a_log_line(tmp_path, caplog):
    rec = FakeRecorder()
    outputs = TrialOutputs(rec)
    with caplog.at_level(logging.WARNING, logger="orchestrator.artifacts"):
        outputs.on_result("run1", {MISSING: "plot.png: could not copy to the Tune storage (OSError: full)",
                                   ARTIFACTS: str(tmp_path / "gone.txt")}, pyarrow.fs.LocalFileSystem())
    tag = rec.client.tags[("run1", MISSING_TAG)]
    assert "plot.png: could not copy" in tag and "gone.txt" in tag and rec.logged == []
    assert sum("artifact not recorded in MLflow" in r.getMessage() for r in caplog.records) == 2


def test_an_artifact_store_refusing_the_upload_is_a_warning_not_a_crash(tmp_path):
    src = tmp_path / "note.txt"
    src.write_text("x")
    outputs = TrialOutputs(FakeRecorder(fail=True))
    assert outputs.log_from_storage("run1", str(src), pyarrow.fs.LocalFileSystem()) is False
    assert "PermissionError" in outputs.recorder.client.tags[("run1", MISSING_TAG)]


def test_node_history_records_a_retry_on_another_node():
    rec = FakeRecorder()
    outputs = TrialOutputs(rec)
    for node in ["n2", "n2", "head", "head"]:
        outputs.on_result("r", {NODE: node}, pyarrow.fs.LocalFileSystem())
    assert rec.client.tags[("r", NODE_TAG)] == "head" and rec.client.tags[("r", NODES_TAG)] == "n2,head"


def test_checkpoint_folder_is_logged_file_by_file_without_tune_metadata(s3):
    folder = "bkt/exp/trial_00002/checkpoint_000003"
    for rel, data in {"checkpoint.pt": b"state", "extra/codebook.npy": b"cb", ".metadata.pkl": b"tune"}.items():
        with s3.open_output_stream(f"{folder}/{rel}") as out:
            out.write(data)
    rec = FakeRecorder()
    TrialOutputs(rec).log_checkpoint("r", s3, folder)
    assert sorted(rec.logged) == [("r", "checkpoint", "checkpoint.pt", b"state"),
                                  ("r", "checkpoint/extra", "codebook.npy", b"cb")]
    assert not rec.client.tags


def test_an_empty_or_vanished_checkpoint_folder_is_reported(s3, tmp_path):
    rec = FakeRecorder()
    TrialOutputs(rec).log_checkpoint("r", s3, "bkt/exp/none/checkpoint_000000")
    assert "cannot list bkt/exp/none/checkpoint_000000" in rec.client.tags[("r", MISSING_TAG)]
    (tmp_path / "ckpt").mkdir()
    TrialOutputs(rec).log_checkpoint("e", pyarrow.fs.LocalFileSystem(), str(tmp_path / "ckpt"))
    assert "is empty" in rec.client.tags[("e", MISSING_TAG)]
