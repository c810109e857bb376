"""Which addresses a catalog or job URL may reach: public ones only, unless an allow-list opens named hosts or
networks (for users whose images sit on an internal server). Also name resolution with a deadline of its own."""
from __future__ import annotations

import ipaddress
import os
import re
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOW_ENV = "ANIMATE_PRODUCTS_ALLOW_HOSTS"  # comma-separated host names, addresses and CIDR networks
# IPv6 forms that carry an IPv4 address a router turns back into IPv4: judged by the address they carry
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")
_HOST_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$")


def normal_host(host: str) -> str:
    """Host names compare in lower case and without the trailing dot of a fully qualified name."""
    return host.strip().lower().rstrip(".")


def parse_network(entry: str) -> IPNetwork | None:
    """`entry` as an address or CIDR network (an address is a network of one), or None if it is neither."""
    try:
        return ipaddress.ip_network(entry.strip().strip("[]"), strict=False)
    except ValueError:
        return None


def allow_entry_problem(entry: str) -> str | None:
    """Why `entry` cannot be an allow-list entry, or None if it is a host name, an address or a network."""
    if parse_network(entry) is not None or _HOST_NAME.match(normal_host(entry)):
        return None
    return f"{entry!r} is neither a host name nor an IP address or CIDR network (e.g. images.corp, 10.20.0.0/16)"


def embedded_ipv4(address: IPAddress) -> tuple[ipaddress.IPv4Address, str] | None:
    """(the IPv4 address, the form's name) for IPv6 addresses that stand for an IPv4 one: IPv4-mapped
    (::ffff:a.b.c.d, which the kernel connects over IPv4), 6to4 (2002::/16) and NAT64 (64:ff9b::/96)."""
    if address.version != 6:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped, "IPv4-mapped"
    if address.sixtofour is not None:
        return address.sixtofour, "6to4"
    if address in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), "NAT64"
    return None


def address_class(address: IPAddress) -> str | None:
    """The kind of non-public address this is ('loopback', 'private', ...), or None for a public one."""
    inner = embedded_ipv4(address)
    if inner is not None:
        kind = address_class(inner[0])
        return f"{kind}, as {inner[1]} {inner[0]}" if kind else None
    # order: the most telling name first (169.254.0.0/16 is both link-local and private, ::1 loopback and reserved)
    for kind, test in (("unspecified", address.is_unspecified), ("loopback", address.is_loopback),
                       ("link-local", address.is_link_local), ("multicast", address.is_multicast),
                       ("reserved", address.is_reserved), ("private", address.is_private),
                       ("site-local", address.version == 6 and address.is_site_local),
                       ("non-public", not address.is_global)):  # e.g. 100.64.0.0/10, shared by carrier NAT
        if test:
            return kind
    return None


@dataclass(frozen=True)
class AddressPolicy:
    """Public addresses, plus what the allow-list names: host names (any address they resolve to) and networks."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> AddressPolicy:
        """Raises ValueError naming the first entry that is neither a host name nor an address or network."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            problem = allow_entry_problem(entry)
            if problem:
                raise ValueError(problem)
            network = parse_network(entry)
            if network is None:
                hosts.add(normal_host(entry))
            else:
                networks.append(network)
        return cls(frozenset(hosts), tuple(networks))

    @classmethod
    def from_settings(cls, allow_hosts: Iterable[str]) -> AddressPolicy:
        """The run's allow-list (config / job settings) joined with the environment's (`ALLOW_ENV`)."""
        return cls.from_entries([*allow_hosts, *os.environ.get(ALLOW_ENV, "").split(",")])

    def allows_host(self, host: str) -> bool:
        return normal_host(host) in self.hosts

    def refusal(self, host: str, address: IPAddress) -> str | None:
        """Why connecting to `address` for `host` is refused (the kind of non-public address), or None."""
        if self.allows_host(host):
            return None
        inner = embedded_ipv4(address)
        for candidate in (address, *([inner[0]] if inner else [])):
            if any(candidate.version == n.version and candidate in n for n in self.networks):
                return None
        return address_class(address)


def ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def resolve_addresses(host: str, port: int, timeout_s: float) -> list[IPAddress]:
    """The addresses `host` resolves to, in the resolver's order, each once. getaddrinfo has no timeout of its own
    (a dead resolver holds it for tens of seconds), so it runs in a daemon thread that is left behind if it takes
    longer than `timeout_s`: raises TimeoutError then, OSError (socket.gaierror) when the name does not resolve."""
    literal = ip_literal(host)
    if literal is not None:
        return [literal]
    outcome: dict[str, object] = {}
    finished = threading.Event()

    def look_up() -> None:
        try:
            outcome["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            outcome["error"] = exc
        finally:
            finished.set()

    threading.Thread(target=look_up, name=f"resolve {host}", daemon=True).start()
    if not finished.wait(timeout_s):
        raise TimeoutError(f"looking up {host} took longer than {timeout_s:g} s")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    addresses: list[IPAddress] = []
    for *_, sockaddr in outcome["infos"]:  # type: ignore[union-attr]
        address = ipaddress.ip_address(sockaddr[0])  # an IPv6 zone id ("%eth0") stays: connecting needs it
        if address not in addresses:
            addresses.append(address)
    return addresses
