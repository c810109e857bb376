"""Shared test helpers."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass(frozen=True)
class Route:
    body: bytes
    content_type: str = "image/png"
    status: int = 200
    send_length: bool = True  # False: no Content-Length; the body ends when the connection closes
    trickle_s: float = 0.0  # > 0: send the body 64 bytes at a time with this pause between pieces


class LoopbackServer:
    """An HTTP server on 127.0.0.1 (never any other address) serving registered paths; others answer 404."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                route = routes.get(self.path)
                if route is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                if route.send_length:
                    self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                try:
                    if route.trickle_s > 0:
                        for start in range(0, len(route.body), 64):
                            self.wfile.write(route.body[start:start + 64])
                            self.wfile.flush()
                            time.sleep(route.trickle_s)
                    else:
                        self.wfile.write(route.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up, as some tests expect

            def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def add(self, path: str, body: bytes, content_type: str = "image/png", status: int = 200,
            send_length: bool = True, trickle_s: float = 0.0) -> str:
        """Serve `body` at `path` (starting with '/'); returns its URL."""
        self.routes[path] = Route(body, content_type, status, send_length, trickle_s)
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"


@pytest.fixture
def loopback_http(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackServer]:
    for name in ("no_proxy", "NO_PROXY"):  # an http_proxy in the environment must not capture loopback requests
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    server = LoopbackServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


@pytest.fixture
def torch_one_thread() -> Iterator[None]:
    """Tiny networks run faster on one thread, and far faster than on two when other processes share the CPU
    (OpenMP threads spin waiting for each other)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
