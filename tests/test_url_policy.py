"""URLs may reach public addresses only, unless the allow-list names the host or network: refusals on the first
hop and on redirects, names resolving to internal addresses, no DNS rebinding, name look-ups and slow headers
bounded in time, TLS checked against the host name. Refused addresses are never contacted: every test here
fails if a connection to anything but loopback is attempted, and host names resolve through a stub."""
from __future__ import annotations

import ipaddress
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

import pipeline.download as download
from conftest import LOOPBACK_ALLOW, product_photo
from pipeline.catalog import CatalogItem, fetch_image_bytes
from pipeline.cli import main
from pipeline.errors import EXIT_NO_INPUT, EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, ProductError
from pipeline.net_policy import ALLOW_ENV, AddressPolicy, address_class
from test_batch_bad_rows import CannedServer, redirect, write_csv
from test_path_safety import write_short_clip

LOOPBACK = {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")}


@pytest.fixture(autouse=True)
def connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The address of every outgoing connection attempt. One to anything but loopback fails the test before
    the connection is made (it raises AssertionError, which no download code catches)."""
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    attempts: list[str] = []
    real_connect = socket.socket.connect

    def guarded_connect(sock: socket.socket, address) -> None:  # noqa: ANN001 (socket's signature)
        attempts.append(str(address[0]))
        if ipaddress.ip_address(str(address[0]).split("%")[0]) not in LOOPBACK:
            raise AssertionError(f"a connection to {address} was attempted")
        real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect)
    yield attempts
    assert all(ipaddress.ip_address(a.split("%")[0]) in LOOPBACK for a in attempts), attempts


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """A stub resolver: names in the returned table resolve to its addresses (each look-up counted under
    '#name'); anything else only as a numeric address (AI_NUMERICHOST), so no query ever leaves the machine."""
    table: dict[str, list[str]] = {}
    calls: dict[str, int] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):  # noqa: ANN001, A002 (socket's signature)
        calls[host] = calls.get(host, 0) + 1
        table[f"#{host}"] = [str(calls[host])]
        if host in table:
            answers = table[host]
            pick = answers[min(calls[host], len(answers)) - 1] if host.startswith("rebind") else None
            addresses = [pick] if pick else answers
            return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                     (a, port) if ":" not in a else (a, port, 0, 0)) for a in addresses]
        return real(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


def item(url: str) -> CatalogItem:
    return CatalogItem(line=2, product_id="sku-1", image=url, category="mug", motion="", title="",
                       catalog_dir=Path("/"))


# ---- the address classes ------------------------------------------------------------------------------------

REFUSED = {
    "127.0.0.1": "loopback", "127.255.0.9": "loopback", "10.1.2.3": "private", "172.16.5.4": "private",
    "192.168.1.1": "private", "169.254.169.254": "link-local", "100.64.0.1": "non-public", "0.0.0.0": "unspecified",
    "224.0.0.1": "multicast", "239.255.255.250": "multicast", "240.0.0.1": "reserved", "255.255.255.255": "reserved",
    "192.0.2.10": "private", "198.18.0.1": "private",
    "::1": "loopback", "::": "unspecified", "fe80::1": "link-local", "fc00::1": "private", "fd12:3456::1": "private",
    "fec0::1": "site-local", "ff02::1": "multicast", "ff0e::1": "multicast", "::127.0.0.1": "reserved",
    "2001:db8::1": "private", "100::1": "reserved", "64:ff9b:1::a00:1": "reserved",
    "::ffff:127.0.0.1": "loopback, as IPv4-mapped 127.0.0.1", "::ffff:10.0.0.1": "private, as IPv4-mapped 10.0.0.1",
    "::ffff:169.254.169.254": "link-local, as IPv4-mapped 169.254.169.254",
    "2002:a9fe:a9fe::1": "link-local, as 6to4 169.254.169.254", "2002:7f00:1::": "loopback, as 6to4 127.0.0.1",
    "64:ff9b::7f00:1": "loopback, as NAT64 127.0.0.1", "64:ff9b::a00:1": "private, as NAT64 10.0.0.1",
}
PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:93.184.216.34", "2002:5db8:d822::1",
          "64:ff9b::5db8:d822"]  # classified only: nothing here connects to them


@pytest.mark.parametrize("address, kind", REFUSED.items())
def test_non_public_addresses_are_classified(address: str, kind: str) -> None:
    assert address_class(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_not(address: str) -> None:
    assert address_class(ipaddress.ip_address(address)) is None


def test_the_allow_list_opens_host_names_and_networks() -> None:
    policy = AddressPolicy.from_entries(["Images.Corp.", "10.20.0.0/16", "fd00::/8", " ", "192.168.7.7"])
    private = ipaddress.ip_address("10.99.0.1")
    assert policy.refusal("images.corp", private) is None  # a named host may resolve to anything
    assert policy.refusal("IMAGES.CORP.", private) is None
    assert policy.refusal("other.corp", private) == "private"
    assert policy.refusal("x", ipaddress.ip_address("10.20.3.4")) is None
    assert policy.refusal("x", ipaddress.ip_address("::ffff:10.20.3.4")) is None  # the same address, mapped
    assert policy.refusal("x", ipaddress.ip_address("fd00::5")) is None
    assert policy.refusal("x", ipaddress.ip_address("192.168.7.7")) is None
    assert policy.refusal("x", ipaddress.ip_address("192.168.7.8")) == "private"
    with pytest.raises(ValueError, match="neither a host name"):
        AddressPolicy.from_entries(["10.0.0.0/33"])
    with pytest.raises(ValueError, match="neither a host name"):
        AddressPolicy.from_entries(["http://images.corp/"])


# ---- refusals: the first hop ---------------------------------------------------------------------------------

@pytest.mark.parametrize("url, kind", [
    ("http://127.0.0.1:8080/a.png", "loopback"),
    ("http://10.0.0.1/a.png", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("https://192.168.1.20/a.png", "private"),
    ("http://0.0.0.0:80/a.png", "unspecified"),
    ("http://224.0.0.251/a.png", "multicast"),
    ("http://[::1]:8080/a.png", "loopback"),
    ("http://[fe80::1%25eth0]/a.png", "link-local"),
    ("http://[fd00:ec2::254]/latest/meta-data/", "private"),
    ("http://[::ffff:127.0.0.1]/a.png", "loopback, as IPv4-mapped 127.0.0.1"),
    ("http://[::ffff:a9fe:a9fe]/latest/", "link-local, as IPv4-mapped 169.254.169.254"),
    ("http://[64:ff9b::a9fe:a9fe]/latest/", "link-local, as NAT64 169.254.169.254"),
    ("http://[2002:7f00:1::]/a.png", "loopback, as 6to4 127.0.0.1"),
    # the spellings inet_aton accepts for 127.0.0.1 and 169.254.169.254
    ("http://2130706433/a.png", "loopback"),
    ("http://0x7f.1/a.png", "loopback"),
    ("http://127.1/a.png", "loopback"),
    ("http://0251.0376.0251.0376/latest/", "link-local"),
])
def test_non_public_address_literals_are_refused_without_connecting(url: str, kind: str, dns,
                                                                    connections: list[str]) -> None:
    with pytest.raises(ProductError) as caught:
        fetch_image_bytes(item(url))
    reason = caught.value.reason
    assert reason.startswith(f"image URL {url} is refused: ") and f"not a public address ({kind})" in reason
    assert ALLOW_ENV in reason and "allow_hosts" in reason  # says how to open an internal server
    assert connections == []


@pytest.mark.parametrize("addresses", [["192.168.1.10"], ["10.0.0.7", "fd00::7"], ["169.254.169.254"],
                                       ["127.0.0.1"], ["::ffff:10.1.1.1"]])
def test_host_names_resolving_to_internal_addresses_are_refused(dns, connections: list[str],
                                                                addresses: list[str]) -> None:
    dns["images.intranet.test"] = addresses
    with pytest.raises(ProductError) as caught:
        fetch_image_bytes(item("http://images.intranet.test/a.png"))
    first = ipaddress.ip_address(addresses[0])  # as Python writes it: ::ffff:10.1.1.1 is ::ffff:a01:101
    assert f"is refused: images.intranet.test resolves to {first}, not a public address" in caught.value.reason
    assert connections == []


def test_localhost_is_refused(dns, connections: list[str]) -> None:
    dns["localhost"] = ["127.0.0.1", "::1"]
    with pytest.raises(ProductError, match=r"localhost resolves to 127\.0\.0\.1, not a public address \(loopback\)"):
        fetch_image_bytes(item("http://localhost:8000/a.png"))
    assert connections == []


# ---- refusals: redirects --------------------------------------------------------------------------------------

@pytest.mark.parametrize("location, refused", [
    ("http://169.254.169.254/latest/meta-data/iam/", "169.254.169.254 is not a public address (link-local)"),
    ("http://metadata.internal.test/computeMetadata/", "metadata.internal.test resolves to 169.254.169.254,"),
    ("https://[::ffff:10.0.0.5]:8443/a.png", "::ffff:a00:5 is not a public address (private, as IPv4-mapped"),
])
def test_a_redirect_to_an_internal_address_is_refused_on_that_hop(monkeypatch, dns, connections: list[str],
                                                                  location: str, refused: str) -> None:
    monkeypatch.setenv(ALLOW_ENV, LOOPBACK_ALLOW)  # the first hop, the loopback server, is allowed
    dns["metadata.internal.test"] = ["169.254.169.254"]
    server = CannedServer(redirect(location))
    try:
        url = server.url("/a.png")
        with pytest.raises(ProductError) as caught:
            fetch_image_bytes(item(url))
    finally:
        server.close()
    assert caught.value.reason.startswith(f"image URL {url} (redirected to {location}) is refused: ")
    assert refused in caught.value.reason
    assert connections == ["127.0.0.1"]  # the redirecting server only


# ---- what the allow-list opens, and how the connection is made ------------------------------------------------

def test_the_allow_list_argument_opens_the_loopback_server(loopback_http, monkeypatch,
                                                          connections: list[str]) -> None:
    monkeypatch.delenv(ALLOW_ENV)  # the fixture's environment allow-list: the argument alone must do it
    url = loopback_http.add("/a.png", b"\x89PNG-bytes")
    with pytest.raises(ProductError, match="is refused"):
        fetch_image_bytes(item(url))
    assert fetch_image_bytes(item(url), ("127.0.0.0/8",)) == b"\x89PNG-bytes"
    assert connections == ["127.0.0.1"]


def test_a_bad_allow_list_entry_in_the_environment_fails_the_product(monkeypatch) -> None:
    monkeypatch.setenv(ALLOW_ENV, "images.corp, 10.0.0.0/40")
    with pytest.raises(ProductError, match=f"{ALLOW_ENV}.*'10.0.0.0/40' is neither a host name"):
        fetch_image_bytes(item("http://10.0.0.1/a.png"))


def test_the_name_is_resolved_once_and_the_checked_address_is_the_one_connected(loopback_http, dns,
                                                                               connections: list[str]) -> None:
    # a rebinding name answers the allowed loopback address first and an internal one after that: a downloader
    # that resolved again to connect would go to 10.0.0.66
    dns["rebind.test"] = ["127.0.0.1", "10.0.0.66"]
    port = loopback_http.server.server_address[1]
    loopback_http.add("/a.png", b"\x89PNG-bytes")
    assert fetch_image_bytes(item(f"http://rebind.test:{port}/a.png")) == b"\x89PNG-bytes"
    assert dns["#rebind.test"] == ["1"]
    assert connections == ["127.0.0.1"]
    assert loopback_http.host_headers == [f"rebind.test:{port}"]  # the Host header keeps the name


def test_only_the_allowed_addresses_of_a_name_are_connected(loopback_http, dns, connections: list[str]) -> None:
    dns["mixed.test"] = ["10.9.9.9", "127.0.0.1"]
    port = loopback_http.server.server_address[1]
    loopback_http.add("/a.png", b"\x89PNG-bytes")
    assert fetch_image_bytes(item(f"http://mixed.test:{port}/a.png")) == b"\x89PNG-bytes"
    assert connections == ["127.0.0.1"]


def test_an_allowed_host_name_may_resolve_to_a_loopback_address(loopback_http, monkeypatch, dns,
                                                                connections: list[str]) -> None:
    monkeypatch.setenv(ALLOW_ENV, "images.corp.test")
    dns["images.corp.test"] = ["127.0.0.1"]
    url = loopback_http.add("/a.png", b"\x89PNG-bytes").replace("127.0.0.1", "images.corp.test")
    assert fetch_image_bytes(item(url)) == b"\x89PNG-bytes"
    with pytest.raises(ProductError, match="is refused"):  # the address itself is not on the list
        fetch_image_bytes(item(loopback_http.url("/a.png")))


def make_certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for `name` (openssl's command line) and its key."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_tls_is_checked_against_the_host_name_not_the_address(tmp_path: Path, monkeypatch, dns,
                                                              connections: list[str]) -> None:
    cert, key = make_certificate(tmp_path, "images.corp.test")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server_names: list[str | None] = []
    context.sni_callback = lambda sock, name, ctx: server_names.append(name)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", "10")
            self.end_headers()
            self.wfile.write(b"\x89PNG-bytes")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        port = server.server_address[1]
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust the test certificate (OpenSSL's default paths)
        monkeypatch.setenv(ALLOW_ENV, "images.corp.test,127.0.0.1")
        dns["images.corp.test"] = ["127.0.0.1"]
        assert fetch_image_bytes(item(f"https://images.corp.test:{port}/a.png")) == b"\x89PNG-bytes"
        assert server_names == ["images.corp.test"]
        # the same server by its address: the certificate names images.corp.test, so verification fails
        with pytest.raises(ProductError, match="could not be downloaded: .*(certificate|match)"):
            fetch_image_bytes(item(f"https://127.0.0.1:{port}/a.png"))
    finally:
        server.shutdown()
        server.server_close()
    assert set(connections) == {"127.0.0.1"}


# ---- time limits -----------------------------------------------------------------------------------------------

def test_a_name_look_up_has_a_deadline_of_its_own(monkeypatch, dns) -> None:
    released = threading.Event()
    real = socket.getaddrinfo

    def stuck(host, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        if host == "slow-dns.test":
            released.wait(10)  # a resolver that does not answer
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", stuck)
    monkeypatch.setenv(download.RESOLVE_TIMEOUT_ENV, "0.3")
    started = time.monotonic()
    try:
        with pytest.raises(ProductError, match="looking up slow-dns.test took longer than 0.3 s"):
            fetch_image_bytes(item("http://slow-dns.test/a.png"))
        assert time.monotonic() - started < 2
    finally:
        released.set()


class TricklingServer:
    """Sends `head` (the start of an HTTP response) and then an endless line of 'x', one byte every `pause_s`."""

    def __init__(self, head: bytes, pause_s: float) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.head, self.pause_s, self.stop = head, pause_s, threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}{path}"

    def _serve(self) -> None:
        try:
            connection, _ = self.listener.accept()
        except OSError:
            return
        with connection:
            connection.recv(65536)
            sent = 0
            while not self.stop.wait(self.pause_s):
                try:
                    connection.sendall(self.head[sent:sent + 1] or b"x")
                except OSError:  # the client gave up
                    return
                sent += 1

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


@pytest.mark.parametrize("head", [
    b"HTTP/1.1 200 OK ",  # the status line itself trickles
    b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nX-Padding: ",  # then a header
])
def test_slow_headers_are_bounded_by_the_overall_deadline(loopback_http, monkeypatch, head: bytes) -> None:
    monkeypatch.setenv(download.TIMEOUT_ENV, "5")  # each byte arrives well within the per-read timeout
    monkeypatch.setenv(download.DEADLINE_ENV, "0.6")
    server = TricklingServer(head, pause_s=0.02)
    started = time.monotonic()
    try:
        with pytest.raises(ProductError, match="took longer than 0.6 s"):
            fetch_image_bytes(item(server.url("/a.png")))
        assert time.monotonic() - started < 2
    finally:
        server.close()


# ---- whole runs: a product fails alone, a job's catalog URL stops the job ---------------------------------------

def test_a_refused_url_fails_its_product_alone(tmp_path: Path, loopback_http, monkeypatch, dns) -> None:
    monkeypatch.delenv(ALLOW_ENV)  # the run's config file opens the loopback server
    dns["images.intranet.test"] = ["10.10.10.10"]
    good = loopback_http.add("/good.png", product_photo((205, 35, 45), seed=1))
    write_short_clip(tmp_path / "clip")  # a cheap driving clip to analyse
    catalog = write_csv(tmp_path / "catalog.csv", [
        ["web-good", good, "vase", "clip/", ""],
        ["metadata", "http://169.254.169.254/latest/meta-data/", "vase", "clip/", ""],
        ["intranet", "http://images.intranet.test/a.png", "vase", "clip/", ""],
    ])
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"allow_hosts": ["127.0.0.1"]}))
    out = tmp_path / "out"
    code = main([str(catalog), "-o", str(out), "--config", str(config), "--size", "64", "--frames", "4",
                 "--max-side", "200", "--gate", "off"])  # about fetching, not about how the animation looks
    assert code == EXIT_SOME_FAILED
    products = {p["product_id"]: p for p in json.loads((out / "report.json").read_text())["products"]}
    assert products["web-good"]["status"] == "done"
    for pid, refused in (("metadata", "169.254.169.254 is not a public address (link-local)"),
                         ("intranet", "images.intranet.test resolves to 10.10.10.10, not a public address")):
        assert (products[pid]["status"], products[pid]["error_stage"]) == ("failed", "fetch")
        assert refused in products[pid]["error"]


def test_a_bad_allow_list_setting_is_a_usage_error(tmp_path: Path, capsys) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"allow_hosts": ["10.0.0.0/8", "not a host"]}))
    (tmp_path / "catalog.csv").write_text("product_id,image,category\n")
    assert main([str(tmp_path / "catalog.csv"), "-o", str(tmp_path / "out"), "--config", str(config)]) == EXIT_USAGE
    assert "allow_hosts: 'not a host' is neither a host name" in capsys.readouterr().err


def write_job(folder: Path, catalog: str, **settings: object) -> Path:
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump({"catalog": catalog, "output_root": "nightly", "settings": settings}))
    return path


def test_a_job_catalog_url_to_an_internal_address_stops_the_job_with_66(tmp_path: Path, capsys,
                                                                      connections: list[str]) -> None:
    job = write_job(tmp_path, "http://10.0.0.8/catalog.csv")
    assert main(["run-job", str(job), "--dry-run"]) == EXIT_NO_INPUT
    error = capsys.readouterr().err
    assert "catalog URL http://10.0.0.8/catalog.csv is refused: 10.0.0.8 is not a public address (private)" in error
    assert connections == []


def test_a_job_catalog_url_on_the_jobs_allow_list_is_fetched(tmp_path: Path, loopback_http, monkeypatch) -> None:
    monkeypatch.delenv(ALLOW_ENV)
    photo = loopback_http.add("/p.png", product_photo((40, 90, 200), 1))
    catalog = loopback_http.add("/catalog.csv", f"product_id,image,category\nweb1,{photo},mug\n".encode(),
                                content_type="text/csv")
    job = write_job(tmp_path, catalog, allow_hosts=["127.0.0.1"])
    assert main(["run-job", str(job), "--dry-run"]) == EXIT_OK
    (run_dir,) = (tmp_path / "nightly" / "runs").iterdir()
    assert "web1" in (run_dir / "catalog.csv").read_text()
