"""Which Host headers name this machine: the serve page's guard against DNS rebinding.

A page on another site can make its own DNS name resolve to 127.0.0.1 and then call the API "same-origin";
the Host header still carries that name. So a loopback-bound server answers only requests whose Host is a
loopback name or address literal, or the host it was started with.
"""

from __future__ import annotations

import ipaddress

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def is_loopback_name(name: str) -> bool:
    """``localhost`` or a loopback address literal (127.0.0.0/8, ::1); a DNS name never is, even one that
    starts with ``127.``, since it can be made to point anywhere."""
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_header_name(header: str) -> str | None:
    """The host part of a Host header (``name``, ``name:port``, ``[v6]:port``), lower case; None if malformed."""
    host = header.strip().lower()
    if host.startswith("["):
        inside, sep, rest = host[1:].partition("]")
        return inside if sep and (not rest or (rest.startswith(":") and rest[1:].isdigit())) else None
    name, sep, port = host.partition(":")
    if sep and not port.isdigit():
        return None
    return name or None
