"""Running the simulator: `serve()` in the foreground, `ServerThread` in the background (tests, demo)."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from kiosk.platform_sim.app import DEFAULT_CATALOG, create_app

__all__ = ["ServerThread", "serve"]


def serve(
    host: str,
    port: int,
    db_path: Path,
    terminals: dict[str, str],
    catalog_path: Path,
    *,
    log_level: str = "info",
    **app_options: Any,
) -> None:
    """Run the simulator until interrupted (Ctrl+C / SIGTERM). `app_options` go to `create_app`
    (enrollment_tokens, heartbeat_interval_s, case_schedule, …)."""
    app = create_app(db_path, terminals, catalog_path, **app_options)
    uvicorn.run(app, host=host, port=port, log_level=log_level)


class ServerThread:
    """The simulator served by uvicorn from a daemon thread: `ServerThread(db_path, terminals).start()`.

    Pass `app=` instead to serve an existing app (e.g. to restart on the same port with the same
    state). The listening socket is bound here (port 0 picks a free port) so `.port` is known before the
    server starts, and SO_REUSEADDR lets a test stop the server and start a new one on the same port.
    """

    def __init__(
        self,
        db_path: Path | None = None,
        terminals: dict[str, str] | None = None,
        catalog_path: Path = DEFAULT_CATALOG,
        *,
        app: FastAPI | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if app is None:
            if db_path is None or terminals is None:
                raise TypeError("ServerThread needs db_path and terminals, or app=")
            app = create_app(db_path, terminals, catalog_path)
        self.app = app
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> ServerThread:
        if self._thread is not None:
            raise RuntimeError("already started")
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say so, and without
        # it every keep-alive request waits ~40 ms on a delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        self._sock = sock
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"platform-sim:{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("simulator did not start")
            time.sleep(0.01)
        with socket.create_connection((self.host, self.port), timeout=timeout_s):
            pass  # it accepts connections
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
