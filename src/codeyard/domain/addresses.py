"""Which network addresses an outgoing request from the server may reach (webhooks; contract §10).

A webhook must not become a way to probe the server's own network: loopback, private, link-local, shared
(CGNAT), multicast, reserved and unspecified addresses are refused unless the server allows them. Pure: the
caller resolves names and hands the addresses in.
"""

import ipaddress

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse(value: str) -> Address | None:
    """``value`` as an IP address (IPv6 scope suffixes dropped), else ``None``."""
    try:
        return ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return None


def is_public(address: Address) -> bool:
    """Whether ``address`` is on the public internet (IPv4-mapped and 6to4/Teredo forms judged by their IPv4)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is not None:
            return is_public(embedded)
    return address.is_global and not address.is_multicast


def refused(addresses: list[Address]) -> list[Address]:
    """The addresses of ``addresses`` that are not public (all must be, or a name could rebind between checks)."""
    return [a for a in addresses if not is_public(a)]
