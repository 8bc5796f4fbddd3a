"""Whether a local TCP port is free: `orchestrator ui` on a busy port used to exit 0 while nothing started."""
from __future__ import annotations

import socket


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def busy_port_message(host: str, port: int) -> str:
    return (f"port {port} on {host} is already in use (another MLflow UI or server?), so the UI could not start. "
            f"Pass --port with a free port (e.g. --port {port + 1}), or stop the process that holds it "
            f"(`ss -ltnp | grep :{port}` names it).")
