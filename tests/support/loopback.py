"""A real uvicorn server on a free 127.0.0.1 port, in a thread: HTTP tests talk to it over a socket."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import httpx


def free_port() -> int:
    """A port nothing listens on now, for a server started in a subprocess."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, process: Any, log_file: Path, timeout_s: float, what: str) -> None:
    """Poll ``url`` until it answers 200; fail with the server's log when it dies or times out."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}: " + log_file.read_text()[-3000:])
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{what} did not answer {url} within {timeout_s:.0f} s: " + log_file.read_text()[-3000:]
            )
        time.sleep(0.3)


def run_server(app: Any, *, lifespan: Literal["on", "off", "auto"] = "on") -> Iterator[str]:
    """Start ``app``, yield its base URL once it accepts connections, stop it afterwards."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan=lifespan))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


serve = contextmanager(run_server)
