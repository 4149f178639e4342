"""GET a provider's metadata or thumbnail: allowlisted hosts only, public addresses only, bounded.

The standard library only (http.client over a socket we connect ourselves), so that every step is ours
to check:

- the host must be on the caller's allowlist, the scheme https, no user, no port;
- the host is resolved once and every address it resolves to must be public (not loopback, private,
  link-local, multicast, reserved, CGNAT, an IPv4 address mapped into IPv6…); the socket connects to
  that checked address and TLS verifies the certificate for the host name, so a second DNS answer
  (rebinding) is never asked for;
- redirects are followed by hand, at most MAX_REDIRECTS, each hop checked as the first;
- the answer is read up to ``max_bytes`` (one byte more means refused) and within one deadline for the
  whole exchange (connect, TLS, headers, body: a server that trickles a byte a second is cut off).

Tests: ``settings.EMBEDS_TEST_RESOLVE`` maps provider hosts to "127.0.0.1:PORT" of a local fake server,
reached over plain HTTP. It is honoured only when ``settings.TESTING`` is true (tests/settings.py), and
then every other host is refused without a DNS lookup: a test run never reaches the network.
articles/embeds/checks.py stops start-up if it is set anywhere else.
"""

import http.client
import ipaddress
import socket
import ssl
import time
from urllib.parse import urljoin, urlsplit

from django.conf import settings

USER_AGENT = "ConclaveTechMedia-embeds/1.0 (+metadata for link previews)"
# One deadline for a whole exchange, redirects included: connect, TLS, headers and body.
TIMEOUT = 5.0
MAX_REDIRECTS = 3
MAX_JSON_BYTES = 512 * 1024
MAX_THUMBNAIL_BYTES = 2 * 1024 * 1024
_REDIRECTS = {301, 302, 303, 307, 308}


class FetchError(Exception):
    """Why a fetch was refused or failed, in words an editor can read (stored on the Embed)."""


def get(url, allowed_hosts, *, max_bytes, accept, timeout=None):
    """(body bytes, content type) of a 200 answer to GET ``url``, or FetchError."""
    deadline = time.monotonic() + (timeout or TIMEOUT)
    for _ in range(MAX_REDIRECTS + 1):
        status, headers, body = _get_once(url, allowed_hosts, max_bytes, accept, deadline)
        if status in _REDIRECTS:
            location = headers.get("location")
            if not location:
                raise FetchError(f"the provider answered {status} without a Location")
            url = urljoin(url, location.strip())
            continue
        if status != 200:
            raise FetchError(f"the provider answered {status}")
        return body, headers.get("content-type", "").split(";")[0].strip().lower()
    raise FetchError("too many redirects")


def public_address(address):
    """Whether an IP address (string) is one the server may connect to: globally routable unicast."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        for embedded in (ip.ipv4_mapped, ip.sixtofour, (ip.teredo or (None, None))[1]):
            if embedded is not None and not public_address(str(embedded)):
                return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local or ip.is_loopback)


def _test_resolve():
    return getattr(settings, "EMBEDS_TEST_RESOLVE", None) if getattr(settings, "TESTING", False) else None


def _check_url(url, allowed_hosts):
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise FetchError("the address is not valid") from None
    host = parts.hostname or ""
    if parts.scheme != "https" or port or parts.username is not None or parts.password is not None:
        raise FetchError(f"refused a non-https or unusual address ({parts.scheme}://{host})")
    if host not in allowed_hosts:
        raise FetchError(f"refused {host or 'an address without a host'}: not this provider's")
    return host, (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _remaining(deadline):
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchError("the provider took too long to answer")
    return left


def _connect(host, deadline):
    """A connected socket (TLS unless a test mapping says otherwise)."""
    mapping = _test_resolve()
    if mapping is not None:
        if host not in mapping:
            raise FetchError(f"refused {host}: not reachable in tests")
        address, port = mapping[host].rsplit(":", 1)
        return socket.create_connection((address, int(port)), timeout=_remaining(deadline))
    try:
        infos = socket.getaddrinfo(host, 443, type=socket.SOCK_STREAM)
    except OSError:
        raise FetchError(f"could not resolve {host}") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses or not all(public_address(address) for address in addresses):
        raise FetchError(f"refused {host}: it resolves to a private or reserved address")
    last_error = None
    for info in infos:
        try:
            sock = socket.create_connection(info[4][:2], timeout=_remaining(deadline))
        except OSError as exc:
            last_error = exc
            continue
        try:
            return ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        except (OSError, ssl.SSLError) as exc:
            sock.close()
            raise FetchError(f"TLS with {host} failed ({type(exc).__name__})") from None
    raise FetchError(f"could not connect to {host} ({type(last_error).__name__})")


def _get_once(url, allowed_hosts, max_bytes, accept, deadline):
    host, target = _check_url(url, allowed_hosts)
    try:
        sock = _connect(host, deadline)
    except TimeoutError:
        raise FetchError("the provider took too long to answer") from None
    except OSError as exc:
        raise FetchError(f"could not connect to {host} ({type(exc).__name__})") from None
    # http.client uses the socket we hand it and only names ``host`` in the Host header.
    connection = http.client.HTTPConnection(host, timeout=_remaining(deadline))
    connection.sock = sock
    try:
        sock.settimeout(_remaining(deadline))
        connection.request(
            "GET",
            target,
            headers={"User-Agent": USER_AGENT, "Accept": accept, "Accept-Encoding": "identity"},
        )
        response = connection.getresponse()
        headers = {name.lower(): value for name, value in response.getheaders()}
        if response.status in _REDIRECTS:
            return response.status, headers, b""
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > max_bytes:
            raise FetchError(f"the answer is too large ({int(length):,} bytes; the limit is {max_bytes:,})")
        chunks, size = [], 0
        while True:
            sock.settimeout(_remaining(deadline))
            chunk = response.read1(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise FetchError(f"the answer is too large (over {max_bytes:,} bytes)")
            chunks.append(chunk)
        return response.status, headers, b"".join(chunks)
    except TimeoutError:
        raise FetchError("the provider took too long to answer") from None
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError(f"the connection to {host} failed ({type(exc).__name__})") from None
    finally:
        connection.close()
