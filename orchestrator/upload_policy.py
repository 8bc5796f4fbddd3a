"""What ``orchestrator submit`` may send to a cluster, and how.

* Secrets stay home: ``.env`` files, keys, tokens and credential files are excluded by default (on top of
  the submit excludes); the files that do go are listed in one warning line before the upload.
* The upload is a snapshot: Ray packs the working dir while other processes write into it (the submit's own
  log, a running sweep's store), and a file changing size mid-pack failed 3 of 3 submits. The files are
  copied to a temporary folder first and that folder is what Ray packs.
* The Ray auth token never travels over plain HTTP to a non-loopback address unless the user asks for it
  (``ORCHESTRATOR_ALLOW_PLAIN_HTTP_TOKEN=1``): use https://, or an SSH tunnel to 127.0.0.1.
"""
from __future__ import annotations

import fnmatch
import ipaddress
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from orchestrator.spec import SweepError

SECRET_PATTERNS = (".env", ".env.*", "*.env", ".envrc", "*.pem", "*.key", "*.p12", "*.pfx", "*.keystore", "*.jks",
                   "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", ".netrc", ".pypirc", ".npmrc", ".git-credentials",
                   ".aws", ".ssh", ".gnupg", ".docker", ".kube", "auth_token", "*.token", "*credentials*",
                   "*secret*", "*.kdbx", "service-account*.json")
ALLOW_PLAIN_TOKEN_ENV = "ORCHESTRATOR_ALLOW_PLAIN_HTTP_TOKEN"


def upload_excludes(base: list[str]) -> list[str]:
    """The submit excludes plus every secret pattern (for Ray's own ``excludes`` too, belt and braces)."""
    return list(dict.fromkeys([*base, *SECRET_PATTERNS]))


def is_excluded(rel: str, patterns: list[str] | tuple[str, ...]) -> bool:
    """Gitignore-like: a pattern matches the whole relative path, any path component, or a folder prefix."""
    parts = rel.split("/")
    for pattern in patterns:
        bare = pattern.strip("/").removeprefix("**/")
        if fnmatch.fnmatch(rel, bare) or rel.startswith(bare.rstrip("*") + "/") and "*" not in bare:
            return True
        if any(fnmatch.fnmatch(part, bare) for part in parts):
            return True
    return False


def candidate_files(root: Path) -> list[str]:
    """Files under ``root`` that are tracked or untracked-but-not-ignored in git (all files without git)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                             capture_output=True, timeout=30, check=True).stdout.decode()
        return sorted({p for p in out.split("\0") if p and (root / p).is_file()})
    except (OSError, subprocess.SubprocessError):
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def upload_set(root: Path, excludes: list[str]) -> tuple[list[str], list[str]]:
    """``(files that go, secret-looking files kept back)`` relative to ``root``."""
    go, kept = [], []
    for rel in candidate_files(root):
        if is_excluded(rel, SECRET_PATTERNS):
            kept.append(rel)
        elif not is_excluded(rel, excludes):
            go.append(rel)
    return go, kept


def snapshot_working_dir(root: Path, excludes: list[str]) -> Path:
    """Copy the upload set to a fresh temporary folder (what Ray then packs); warn with what goes."""
    files, kept = upload_set(root, excludes)
    dest = Path(tempfile.mkdtemp(prefix="orchestrator-upload-"))
    size = 0
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copy2(root / rel, target)
            size += target.stat().st_size
        except FileNotFoundError:  # deleted while we copied: it is not part of the snapshot
            continue
    tops = sorted({rel.split("/")[0] for rel in files})
    print(f"warning: uploading {len(files)} files ({size / 1e6:.1f} MB) from {root}: {', '.join(tops)}"
          + (f"; kept back as secrets: {', '.join(kept)}" if kept else ""), file=sys.stderr)
    return dest


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_token_transport(address: str, headers: dict[str, str]) -> dict[str, str]:
    """``headers`` unchanged, unless they carry a token that would cross the network in clear text."""
    if not headers.get("Authorization"):
        return headers
    parsed = urlparse(address if "://" in address else f"http://{address}")
    if parsed.scheme == "https" or _is_loopback(parsed.hostname):
        return headers
    if os.environ.get(ALLOW_PLAIN_TOKEN_ENV, "").lower() in ("1", "true", "yes"):
        print(f"warning: sending the Ray auth token over plain HTTP to {parsed.hostname} ({ALLOW_PLAIN_TOKEN_ENV} "
              f"is set)", file=sys.stderr)
        return headers
    raise SweepError(
        f"refusing to send the Ray auth token over plain HTTP to {parsed.hostname}: anyone on the path could read "
        f"it and run code on the cluster. Use an https:// dashboard address, or an SSH tunnel (ssh -L "
        f"8265:127.0.0.1:8265 {parsed.hostname}, then --address http://127.0.0.1:8265), or set "
        f"{ALLOW_PLAIN_TOKEN_ENV}=1 if this network is trusted."
    )
