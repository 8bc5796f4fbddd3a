"""orchestrator.storage: paths and URIs for Tune, resume pointers through pyarrow, the multi-node check."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator import storage
from orchestrator.spec import SweepError

MOUNTS = """\
/dev/vda / ext4 rw,relatime 0 0
tmpfs /tmp tmpfs rw 0 0
nfs-server:/export /mnt/shared nfs4 rw,vers=4.2 0 0
nfs-server:/export/deep /mnt/shared/local\\040disk ext4 rw 0 0
"""


def test_local_paths_become_absolute_and_uris_pass_unchanged(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(storage.STORAGE_ENV, raising=False)
    assert storage.resolve_storage(None) == str(tmp_path / "ray_results")
    assert storage.resolve_storage("runs/x") == str(tmp_path / "runs" / "x")
    assert storage.resolve_storage("~/rr") == str(Path.home() / "rr")
    uri = "s3://bucket/prefix/ray?endpoint_override=127.0.0.1:9&scheme=http"
    assert storage.resolve_storage(uri) == uri
    monkeypatch.setenv(storage.STORAGE_ENV, "file:///srv/ray")
    assert storage.resolve_storage(None) == "file:///srv/ray"
    assert storage.resolve_storage("other") == str(tmp_path / "other")  # the flag wins over the variable


def test_unknown_scheme_is_one_paragraph_naming_the_fix():
    with pytest.raises(SweepError) as err:
        storage.resolve_storage("s4://bucket/x")
    text = str(err.value)
    assert "s4://bucket/x" in text and "s3://bucket/prefix" in text and "\n" not in text


def test_join_keeps_the_query_at_the_end():
    assert storage.join("s3://b/p?scheme=http", "a", "b.json") == "s3://b/p/a/b.json?scheme=http"
    assert storage.join("gs://b/p/", "x") == "gs://b/p/x"
    assert storage.join("/srv/ray", "x", "y") == "/srv/ray/x/y"


def test_pointer_round_trip_on_a_local_folder(tmp_path):
    root = str(tmp_path / "deep" / "storage")
    assert storage.read_pointer(root, "sw", "smoke") is None
    storage.write_pointer(root, "sw", "smoke", {"path": "p", "parent_run_id": "r"})
    assert json.loads((tmp_path / "deep" / "storage" / "sw-smoke.latest.json").read_text()) == {
        "path": "p", "parent_run_id": "r"}
    assert storage.read_pointer(root, "sw", "smoke") == {"path": "p", "parent_run_id": "r"}
    assert storage.read_pointer(root, "sw", "mini") is None


def test_fstype_is_the_longest_mount_containing_the_path():
    mounts = storage.read_mounts(MOUNTS)
    assert ("/mnt/shared/local disk", "ext4") in mounts
    assert storage.fstype_of("/home/u/ray_results", mounts) == "ext4"
    assert storage.fstype_of("/mnt/shared/ray", mounts) == "nfs4"
    assert storage.fstype_of("/mnt/shared/local disk/ray", mounts) == "ext4"
    assert storage.fstype_of("/mnt/sharedother", mounts) == "ext4"  # a prefix of the name is not a parent


def test_multi_node_refuses_a_node_local_path(monkeypatch):
    monkeypatch.delenv(storage.SHARED_ENV, raising=False)
    mounts = storage.read_mounts(MOUNTS)
    storage.check_reachable("/home/u/ray_results", 1, mounts)  # one node: its own disk is fine
    with pytest.raises(SweepError) as err:
        storage.check_reachable("/home/u/ray_results", 3, mounts)
    text = str(err.value)
    assert "3 nodes" in text and "/home/u/ray_results" in text and "--storage-path" in text and "s3://" in text
    with pytest.raises(SweepError):
        storage.check_reachable("file:///home/u/ray_results", 2, mounts)
    storage.check_reachable("/mnt/shared/ray", 3, mounts)          # NFS
    storage.check_reachable("s3://bucket/ray", 3, mounts)          # a bucket
    storage.check_reachable("hdfs://nn:8020/ray", 3, mounts)
    monkeypatch.setenv(storage.SHARED_ENV, "1")                    # the user vouches for a shared local path
    storage.check_reachable("/home/u/ray_results", 3, mounts)
