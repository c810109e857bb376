"""Shared test helpers."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipeline.net_policy import ALLOW_ENV

LOOPBACK_ALLOW = "127.0.0.1/32"  # the one address the test servers listen on

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
        self.host_headers: list[str | None] = []  # the Host header of each request, in order
        routes, host_headers = self.routes, self.host_headers

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                host_headers.append(self.headers.get("Host"))
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
    """The server, and the allow-list that lets downloads reach it (loopback is refused otherwise)."""
    monkeypatch.setenv(ALLOW_ENV, LOOPBACK_ALLOW)
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


FAST_SETTINGS = ["--size", "64", "--frames", "4", "--max-side", "200"]  # a product in about a second


def product_photo(colour: tuple[int, int, int], seed: int) -> bytes:
    """160x160 PNG: a saturated, lightly textured rounded shape on a plain light-grey backdrop."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    image = np.full((160, 160, 3), 225, np.uint8)
    mask = np.zeros((160, 160), np.uint8)
    cv2.ellipse(mask, (80, 86), (44, 60), 0, 0, 360, 1, -1)
    texture = rng.integers(-25, 26, (160, 160, 1))
    body = np.clip(np.array(colour)[None, None, :] + texture, 0, 255)
    image[mask > 0] = body[mask > 0]
    return cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))[1].tobytes()


def write_catalog(folder, count: int, category: str = "mug"):
    """A catalog of `count` distinct small product photos in `folder`; returns the CSV's path."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["product_id,image,category"]
    for index in range(count):
        colour = ((50 + 67 * index) % 200, (160 + 41 * index) % 200, (90 + 29 * index) % 200)
        (folder / f"p{index:03d}.png").write_bytes(product_photo(colour, index))
        rows.append(f"p{index:03d},p{index:03d}.png,{category}")
    path = folder / "catalog.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for the whole test session (starting one costs about 5 s)."""
    import ray

    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()
