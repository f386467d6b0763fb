"""Which IP addresses a fetch may connect to: pure, strings in, a verdict out.

Feed URLs come from admins but redirects come from the internet, and a host name can resolve to
anything. Unless ``[poll] allow_private`` is true, a fetch connects only to public addresses:
never to loopback, private (RFC 1918), link-local (cloud metadata at 169.254.169.254 included),
unique-local, unspecified, multicast or reserved ones, nor to those written in IPv6 forms that
carry an IPv4 address (IPv4-mapped ``::ffff:127.0.0.1``, NAT64, 6to4).
"""

from __future__ import annotations

import ipaddress
import re
from ipaddress import IPv4Address, IPv6Address

from ingest.errors import PrivateAddress

_LABEL = re.compile(r"[A-Za-z0-9_-]{1,63}")
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def address_kind(address: str) -> str | None:
    """What makes ``address`` non-public ("a loopback address", ...), or None when it is public."""
    ip = _embedded(ipaddress.ip_address(address.partition("%")[0]))
    checks = (
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (isinstance(ip, IPv6Address) and ip in _UNIQUE_LOCAL, "a unique-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_reserved, "a reserved address"),
        (ip.is_private, "a private address"),
        (not ip.is_global, "a non-public address"),
    )
    return next((name for matches, name in checks if matches), None)


def check_address(address: str, host: str, allow_private: bool) -> None:
    """Raise PrivateAddress when ``host`` resolved to a non-public ``address`` and that is not allowed."""
    if allow_private:
        return
    kind = address_kind(address)
    if kind is not None:
        raise PrivateAddress(
            f"refused to connect to {address} ({kind}) for {host}: [poll] allow_private is "
            "false; set it to true for intranet feeds"
        )


def is_ip(host: str) -> bool:
    """True when ``host`` is an IP address rather than a name."""
    try:
        ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return False
    return True


def host_problem(host: str) -> str | None:
    """What is wrong with a URL's (IDNA-encoded) host, or None when it can be looked up."""
    if not host:
        return "it has no host name"
    if is_ip(host):
        return None
    name = host.removesuffix(".")
    if len(name) > 253:
        return f"its host name is {len(name)} characters long (at most 253)"
    if not all(_LABEL.fullmatch(label) for label in name.split(".")):
        return f"{host!r} is not a valid host name (letters, digits and '-' between dots)"
    return None


def _embedded(ip: IPv4Address | IPv6Address) -> IPv4Address | IPv6Address:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4), else ``ip`` itself."""
    if isinstance(ip, IPv4Address):
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour or ip
