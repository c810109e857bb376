"""Downloading a catalog row's image or a job's catalog over http(s): a per-read timeout, an overall deadline, a
size cap, a few redirects, and only to addresses the address policy allows, checked on every hop against the
address actually connected to (the host is resolved once per hop and the connection goes to that address)."""
from __future__ import annotations

import http.client
import math
import os
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.errors import ProductError
from pipeline.net_policy import ALLOW_ENV, AddressPolicy, IPAddress, ip_literal, resolve_addresses

MAX_DOWNLOAD_BYTES = 40 * 1024 * 1024
DOWNLOAD_TIMEOUT_S = 20.0  # per connect/read
DOWNLOAD_DEADLINE_S = 60.0  # for the whole download, redirects and slow headers included
RESOLVE_TIMEOUT_S = 10.0  # per name look-up (within the deadline)
MAX_REDIRECTS = 5
# environment variables that override the limits above for a run (worker processes inherit them)
TIMEOUT_ENV = "ANIMATE_PRODUCTS_DOWNLOAD_TIMEOUT_S"
DEADLINE_ENV = "ANIMATE_PRODUCTS_DOWNLOAD_DEADLINE_S"
MAX_BYTES_ENV = "ANIMATE_PRODUCTS_MAX_DOWNLOAD_BYTES"
RESOLVE_TIMEOUT_ENV = "ANIMATE_PRODUCTS_DOWNLOAD_RESOLVE_TIMEOUT_S"
REDIRECT_CODES = (301, 302, 303, 307, 308)
USER_AGENT = "animate-products/0.1"
_URL_SAFE = "/%:@!$&'()*+,;=~?[]"  # characters a URL's path and query keep as they are


@dataclass(frozen=True)
class Limits:
    timeout_s: float
    deadline_s: float
    max_bytes: int
    resolve_s: float

    @classmethod
    def from_env(cls) -> Limits:
        return cls(_env_limit(TIMEOUT_ENV, DOWNLOAD_TIMEOUT_S), _env_limit(DEADLINE_ENV, DOWNLOAD_DEADLINE_S),
                   int(_env_limit(MAX_BYTES_ENV, MAX_DOWNLOAD_BYTES)),
                   _env_limit(RESOLVE_TIMEOUT_ENV, RESOLVE_TIMEOUT_S))


def _env_limit(name: str, default: float) -> float:
    """`default`, unless the environment variable `name` sets another positive number."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise ProductError(f"environment variable {name}={text!r} must be a positive number")
    return value


def _quoted_url(url: str) -> str:
    """`url` with spaces and non-ASCII characters in its path and query percent-encoded, as browsers send them
    (http.client refuses them raw, and catalogs exported by shops contain them); escapes already there stay."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=urllib.parse.quote(parts.path, safe=_URL_SAFE),
                                                  query=urllib.parse.quote(parts.query, safe=_URL_SAFE)))


def _looks_like_html(content_type: str, data: bytes) -> bool:
    head = data[:512].lstrip().lower()
    return "html" in content_type or head.startswith((b"<!doctype html", b"<html", b"<head", b"<body"))


class Deadline:
    """The download's overall deadline. When it passes it shuts the open connection down, which ends a read
    blocked inside http.client (a server trickling its status line or headers byte by byte is otherwise bounded
    only by the per-read timeout, again for every byte)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    @property
    def passed(self) -> bool:
        return self.fired or time.monotonic() > self.end

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.fired:
                _shut(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    """Shut the socket down for both directions; a blocked recv returns at once. socket.socket's own method,
    so that on a TLS socket the TLS state is left to the reading thread."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


class PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the addresses the policy checked instead of resolving the host again, so a name cannot
    resolve to a public address for the check and to an internal one for the connection. The Host header still
    names the host."""

    def __init__(self, host: str, port: int, addresses: list[IPAddress], timeout: float, deadline: Deadline):
        super().__init__(host, port, timeout=timeout)
        self.addresses, self.deadline = addresses, deadline

    def connect(self) -> None:
        last_error: OSError = TimeoutError("the deadline passed before connecting")
        for address in self.addresses:
            if self.deadline.passed:
                break
            try:
                sock = socket.create_connection((str(address), self.port),
                                                min(self.timeout, max(self.deadline.remaining(), 0.001)))
            except OSError as exc:
                last_error = exc
                continue
            sock.settimeout(self.timeout)  # per read from here on; the deadline bounds the total
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.deadline.watch(sock)
            self.sock = sock
            return
        raise last_error


class PinnedHTTPSConnection(PinnedHTTPConnection):
    """TLS over the pinned connection, with SNI and certificate verification for the host name, not the address."""

    default_port = http.client.HTTPS_PORT

    def connect(self) -> None:
        super().connect()
        tls = ssl.create_default_context().wrap_socket(self.sock, server_hostname=self.host,
                                                       do_handshake_on_connect=False)
        self.sock = tls
        self.deadline.watch(tls)  # a handshake trickled out byte by byte ends at the deadline too
        tls.do_handshake()


@dataclass(frozen=True)
class _Fetch:
    """One download: what is fetched (for messages), the URL as given, its limits, policy and deadline."""

    what: str
    url: str
    limits: Limits
    policy: AddressPolicy
    deadline: Deadline

    def fail(self, problem: str) -> ProductError:
        return ProductError(f"{self.what} {self.url} {problem}")

    def too_slow(self) -> ProductError:
        return self.fail(f"took longer than {self.limits.deadline_s:g} s to download")

    def addresses(self, hop_url: str, host: str, port: int) -> list[IPAddress]:
        """The host's addresses this hop may connect to; refuses the URL if the policy allows none of them."""
        timeout = min(self.limits.resolve_s, self.deadline.remaining())
        try:
            addresses = resolve_addresses(host, port, timeout)
        except TimeoutError as exc:
            raise self.fail(f"could not be downloaded: {exc}") from None
        except OSError as exc:
            raise self.fail(f"could not be downloaded: cannot look up {host}: {exc.strerror or exc}") from None
        allowed = [a for a in addresses if self.policy.refusal(host, a) is None]
        if allowed:
            return allowed
        first = addresses[0]
        which = f"{first} is" if ip_literal(host) is not None else f"{host} resolves to {first},"
        hop = "" if hop_url == self.url else f" (redirected to {hop_url})"
        raise ProductError(f"{self.what} {self.url}{hop} is refused: {which} not a public address "
                           f"({self.policy.refusal(host, first)}); name the host or network in the allow_hosts "
                           f"setting or {ALLOW_ENV} to download from an internal server")

    def connect(self, hop_url: str) -> PinnedHTTPConnection:
        parts = urllib.parse.urlsplit(hop_url)
        https = parts.scheme.lower() == "https"
        host = parts.hostname
        if not host:
            raise self.fail(f"could not be downloaded: no host name in {hop_url}")
        try:
            port = parts.port or (http.client.HTTPS_PORT if https else http.client.HTTP_PORT)
        except ValueError as exc:
            raise self.fail(f"could not be downloaded: {exc}") from None
        kind = PinnedHTTPSConnection if https else PinnedHTTPConnection
        return kind(host, port, self.addresses(hop_url, host, port), self.limits.timeout_s, self.deadline)

    def next_hop(self, hop_url: str, location: str, visited: set[str]) -> str:
        target = urllib.parse.urljoin(hop_url, location.strip())
        if target in visited or len(visited) > MAX_REDIRECTS:
            raise self.fail(f"redirects in a loop or more than {MAX_REDIRECTS} times (last to {target})")
        if urllib.parse.urlsplit(target).scheme.lower() not in ("http", "https"):
            raise self.fail(f"redirects to {target}, which is not an http(s) URL")
        if self.deadline.passed:
            raise self.too_slow()
        return target

    def open(self) -> tuple[PinnedHTTPConnection, http.client.HTTPResponse]:
        """The connection and the 2xx response at the end of the redirects (the caller closes both). A redirect's
        body is never read: a server can make it endless."""
        hop_url, visited = self.url, {self.url}
        while True:
            quoted = urllib.parse.urlsplit(_quoted_url(hop_url))
            connection = self.connect(hop_url)
            try:
                connection.request("GET", (quoted.path or "/") + (f"?{quoted.query}" if quoted.query else ""),
                                   headers={"User-Agent": USER_AGENT})
                response = connection.getresponse()
            except BaseException:
                connection.close()
                raise
            location = response.getheader("Location")
            if 200 <= response.status < 300:
                return connection, response
            response.close()
            connection.close()
            if response.status not in REDIRECT_CODES or not location:
                raise self.fail(f"answered HTTP {response.status} {response.reason}")
            hop_url = self.next_hop(hop_url, location, visited)
            visited.add(hop_url)

    def read_body(self, response: http.client.HTTPResponse) -> tuple[bytes, str]:
        """(body, content type), within the size cap and the deadline."""
        max_bytes = self.limits.max_bytes
        declared = (response.getheader("Content-Length") or "").strip()
        if declared.isdigit() and int(declared) > max_bytes:
            raise self.fail(f"is too large ({int(declared)} bytes; limit {max_bytes})")
        chunks: list[bytes] = []
        received = 0
        while received <= max_bytes:
            if self.deadline.passed:
                raise self.too_slow()
            chunk = response.read1(min(1 << 16, max_bytes + 1 - received))  # what has arrived
            if not chunk:
                break
            chunks.append(chunk)
            received += len(chunk)
        if self.deadline.fired:  # the end of the body may be the deadline's shutdown, not the server's
            raise self.too_slow()
        if received > max_bytes:
            raise self.fail(f"is larger than the {max_bytes} byte limit")
        return b"".join(chunks), (response.getheader("Content-Type") or "").lower()


def address_policy(allow_hosts: Iterable[str]) -> AddressPolicy:
    try:
        return AddressPolicy.from_settings(allow_hosts)
    except ValueError as exc:
        raise ProductError(f"allow-list (allow_hosts setting or {ALLOW_ENV}): {exc}") from None


def download_bytes(url: str, what: str = "image URL", allow_hosts: Iterable[str] = ()) -> bytes:
    """GET `url` within the limits and the address policy (`allow_hosts` plus the environment's allow-list);
    reject HTML pages. Problems raise ProductError naming `what` was being fetched."""
    limits = Limits.from_env()
    with Deadline(limits.deadline_s) as deadline:
        fetch = _Fetch(what, url, limits, address_policy(allow_hosts), deadline)
        connection = None
        try:
            connection, response = fetch.open()
            with response:
                data, content_type = fetch.read_body(response)
        except ProductError:
            raise
        except (http.client.HTTPException, OSError, ValueError) as exc:
            if deadline.passed:
                raise fetch.too_slow() from None
            reason: object = exc
            if isinstance(exc, TimeoutError):  # socket.timeout's message is only "timed out"
                reason = f"the server sent nothing for {limits.timeout_s:g} s"
            raise fetch.fail(f"could not be downloaded: {reason}") from None
        finally:
            if connection is not None:
                connection.close()
    if not data:
        raise fetch.fail("returned an empty body")
    if _looks_like_html(content_type, data):
        raise fetch.fail(f"returned an HTML page (Content-Type {content_type or 'unset'}), "
                         "not the file itself; link the file, not a page showing it")
    return data
