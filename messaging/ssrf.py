"""The SSRF guard for Tech Provider callback URLs: which URLs and addresses we may call.

A callback URL is checked when it is saved and again before every send, after DNS resolution;
the sender then connects to exactly the addresses checked here (no second lookup, so DNS
rebinding cannot slip a private address in). Refused: any scheme but https (http too while
WEBHOOK_ALLOW_HTTP, i.e. DEBUG), credentials in the URL, metadata host names, and any address
that is not global unicast: loopback, private, shared, link-local (169.254.169.254 included),
multicast, reserved, unspecified. IPv6 forms that carry an IPv4 address (::ffff:a.b.c.d, 6to4,
NAT64, ::a.b.c.d) are judged by that IPv4 address too, and numeric host spellings other than a
dotted quad (0x7f000001, 2130706433, 0177.0.0.1, 127.1) are refused outright. Loopback is allowed
only when WEBHOOK_ALLOW_LOOPBACK is on (tests and the embedded run; off by default outside DEBUG).
Reference: OWASP SSRF Prevention Cheat Sheet, "Case 2".
"""

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_METADATA_HOSTS = {"metadata", "metadata.google.internal", "instance-data", "metadata.azure.com"}
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
URL_MAX = 2000


class UrlRefused(Exception):
    """The URL may not be called; `message` says why, in words a Tech Provider can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written in the URL, lower case, without brackets
    port: int
    path: str  # path and query, at least "/"
    addresses: tuple[str, ...]  # every address the host resolved to, all allowed

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _public(ip: IPAddress) -> bool:
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_link_local:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return False
    return ip.is_global


def address_allowed(ip: IPAddress) -> bool:
    """True when `ip` (and any IPv4 address it carries) is one we may call."""
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            candidates = [embedded]  # the packet really goes to the IPv4 address
    for candidate in candidates:
        if candidate.is_loopback:
            if not settings.WEBHOOK_ALLOW_LOOPBACK:
                return False
        elif not _public(candidate):
            return False
    return True


def _literal(host: str) -> IPAddress | None:
    """The address a numeric host names; UrlRefused for numeric spellings we do not accept."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if ":" in host:
        raise UrlRefused("The URL's host is not a valid IPv6 address.")
    try:
        socket.inet_aton(host)
    except OSError:
        return None  # a host name
    raise UrlRefused("Write an IPv4 address as four decimal numbers, or use a host name.")


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (the seam tests replace to simulate DNS)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))


def _addresses(host: str, port: int) -> tuple[str, ...]:
    literal = _literal(host)
    if literal is not None:
        found = [str(literal)]
    else:
        try:
            found = resolve(host, port)
        except (OSError, UnicodeError):
            raise UrlRefused(f"The host {host} could not be resolved.") from None
    if not found:
        raise UrlRefused(f"The host {host} could not be resolved.")
    for address in found:
        if not address_allowed(ipaddress.ip_address(address)):
            raise UrlRefused(
                "The URL points to a private, loopback, link-local or otherwise internal "
                "address; use a public HTTPS endpoint."
            )
    return tuple(found)


def _parts(url: str) -> tuple[str, str, int, str]:
    if len(url) > URL_MAX or any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise UrlRefused(f"The URL must be at most {URL_MAX} characters, without spaces.")
    parts = urlsplit(url)
    allowed = ("https", "http") if settings.WEBHOOK_ALLOW_HTTP else ("https",)
    if parts.scheme not in allowed:
        raise UrlRefused("The URL must start with https://.")
    if "@" in parts.netloc:
        raise UrlRefused("The URL must not contain a user name or password.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UrlRefused("The URL's port is not valid.") from None
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UrlRefused("The URL has no host.")
    if host in _METADATA_HOSTS or host.endswith(".internal"):
        raise UrlRefused("The URL points to a cloud metadata service.")
    path = parts.path or "/"
    return parts.scheme, host, port, f"{path}?{parts.query}" if parts.query else path


def callback_url_check(url: str) -> Target:
    """Parse, resolve and check a callback URL; UrlRefused when it may not be called."""
    scheme, host, port, path = _parts(url)
    return Target(scheme, host, port, path, _addresses(host, port))
