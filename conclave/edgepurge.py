"""Purging the edge cache in front of the site (Varnish with xkey, Fastly or Cloudflare), by surrogate key
and by address.

After a change is committed, the pages showing it are purged by the keys they carry (``story-12``,
``list-home``, ``nav``…; DESIGN.md, "How a request flows") and, where a page may carry none, by its URL.
``purge(keys, urls)`` returns only once the edge has confirmed every request it was sent; on any failure
(a refused connection, a timeout, an answer other than 2xx, an API's own refusal) it raises PurgeFailed,
and nothing else, with a reason a person can read: the caller keeps the purge and tries it again later.
A purge is idempotent, so repeating one that half succeeded does no harm.

EDGE_PURGE_URL names the edge (README, Configuration):

- empty: no edge, nothing to purge;
- ``varnish://10.0.0.5:6081,10.0.0.6:6081``: every Varnish server, over plain HTTP;
- ``fastly://<service id>``, with the API token in FASTLY_API_TOKEN;
- ``cloudflare://<zone id>``, with the API token in CLOUDFLARE_API_TOKEN.

Tokens are read from the environment when a purge is made and never kept in settings, so nothing that
prints settings (``diffsettings``, an error page) can show them. conclave/settings.py calls ``configure``
at start-up: a malformed URL or a missing token stops the site there, not at the first purge.

Each request is one http.client connection of our own: no proxy taken from the environment (urllib
would), no redirect followed (a 3xx is a failure), one deadline for connecting, sending and reading the
whole answer, and at most MAX_ANSWER_BYTES of it read.
"""

import http.client
import ipaddress
import json
import os
import re
import ssl
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# Seconds one request to the edge may take, answer included (EDGE_PURGE_TIMEOUT sets it).
TIMEOUT = 5.0
MAX_ANSWER_BYTES = 64 * 1024
# What a surrogate key may be: visible ASCII without a comma (Cache-Tag separates keys with commas, the
# other headers with spaces), at most 1024 bytes (Fastly's limit on one key).
MAX_KEY_BYTES = 1024
_KEY = re.compile(r"[\x21-\x2b\x2d-\x7e]+")
# Varnish refuses a request header longer than http_req_hdr_len, 8 KiB by default; the xkey-purge and
# Surrogate-Key values stay under 7,000 bytes, so the header with its name fits with room to spare.
MAX_KEY_HEADER_BYTES = 7000
# Fastly: "Up to 256 surrogate keys can be purged in one batch request" (API reference, Purging).
FASTLY_MAX_KEYS = 256
# Cloudflare: at most 100 tags, or 100 URLs, in one purge_cache request ("Max operations per request",
# 100 on every plan for tags; 100 URLs except on Enterprise, which allows 500).
CLOUDFLARE_MAX_TAGS = 100
CLOUDFLARE_MAX_FILES = 100

USER_AGENT = "ConclaveTechMedia-edgepurge/1.0"
_ID = re.compile(r"[A-Za-z0-9]+")
_TOKEN = re.compile(r"[!-~]+")
_UNSAFE_IN_URL = re.compile(r"[\x00-\x20\x7f]")


class PurgeFailed(Exception):
    """The edge did not confirm a purge. ``reason`` says why, in words; ``retryable`` is False only when
    the keys or URLs themselves can never be sent (trying them again would fail the same way)."""

    def __init__(self, reason, *, retryable=True):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


def purge(keys=(), urls=()):
    """Purge ``keys`` (surrogate keys) and ``urls`` (absolute http/https addresses) at the configured
    edge; returns once confirmed, raises PurgeFailed otherwise."""
    try:
        configured = edge()
    except ImproperlyConfigured as exc:
        # Checked at start-up; only an environment changed since (a token removed) gets here.
        raise PurgeFailed(str(exc)) from None
    configured.purge(keys, urls)


def edge():
    """The edge the settings name (built anew each time: no state kept between calls)."""
    return configure(
        settings.EDGE_PURGE_URL,
        fastly_api=settings.FASTLY_API_URL,
        cloudflare_api=settings.CLOUDFLARE_API_URL,
        timeout=settings.EDGE_PURGE_TIMEOUT,
    )


# Configuration.


def configure(url, *, fastly_api, cloudflare_api, timeout=TIMEOUT, environ=None):
    """The edge ``url`` (EDGE_PURGE_URL) names, ready to purge; ImproperlyConfigured if it cannot be.

    ``environ`` (os.environ unless given) is where the API tokens are read from.
    """
    environ = os.environ if environ is None else environ
    if not isinstance(timeout, int | float) or not 0 < timeout <= 60:
        raise ImproperlyConfigured("EDGE_PURGE_TIMEOUT must be a number of seconds above 0, at most 60.")
    url = (url or "").strip()
    if not url:
        return NoEdge()
    scheme, _, rest = url.partition("://")
    if scheme == "varnish":
        return Varnish(_varnish_servers(url), timeout=timeout)
    if scheme == "fastly":
        service_id = _identifier(rest, url, "a Fastly service id")
        token = _token(environ, "FASTLY_API_TOKEN", "Fastly")
        return Fastly(service_id, token, api=_api_base("FASTLY_API_URL", fastly_api), timeout=timeout)
    if scheme == "cloudflare":
        zone_id = _identifier(rest, url, "a Cloudflare zone id")
        token = _token(environ, "CLOUDFLARE_API_TOKEN", "Cloudflare")
        return Cloudflare(
            zone_id, token, api=_api_base("CLOUDFLARE_API_URL", cloudflare_api), timeout=timeout
        )
    raise ImproperlyConfigured(
        f"EDGE_PURGE_URL ({url!r}) names no edge this site can purge: leave it empty, or use "
        "varnish://host:port[,host:port…], fastly://<service id> or cloudflare://<zone id>."
    )


def _varnish_servers(url):
    servers = []
    # varnish://a:6081,b:6081 (the scheme may be repeated before each server).
    for item in url.removeprefix("varnish://").split(","):
        item = item.strip().removeprefix("varnish://")
        try:
            parts = urlsplit(f"http://{item}")
            port = parts.port or 80
        except ValueError:
            parts = port = None
        if (
            not parts
            or not parts.hostname
            or parts.username is not None
            or parts.password is not None
            or parts.path
            or parts.query
            or parts.fragment
        ):
            raise ImproperlyConfigured(
                f"EDGE_PURGE_URL names a Varnish server that is not host:port ({item!r} in {url!r})."
            )
        servers.append((parts.hostname, port))
    return servers


def _identifier(value, url, what):
    if not _ID.fullmatch(value):
        raise ImproperlyConfigured(f"EDGE_PURGE_URL ({url!r}) must end with {what} (letters and digits).")
    return value


def _token(environ, name, service):
    token = environ.get(name, "")
    if not token:
        raise ImproperlyConfigured(
            f"EDGE_PURGE_URL names {service} but {name} is not set: the site refuses to start without the "
            f"API token it purges with. Set {name} in the environment (never in a committed file)."
        )
    if not _TOKEN.fullmatch(token):
        raise ImproperlyConfigured(f"{name} holds spaces or control characters: no API token does.")
    return token


def _loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _api_base(name, value):
    """The API's base URL without a trailing slash: https, or http to this machine only (a test's fake)."""
    try:
        parts = urlsplit(value or "")
        parts.port  # noqa: B018 -- raises ValueError on a port that is not a number
    except ValueError:
        parts = None
    if (
        not parts
        or not parts.hostname
        or parts.username is not None
        or parts.password is not None
        or parts.query
        or parts.fragment
        or not (parts.scheme == "https" or (parts.scheme == "http" and _loopback(parts.hostname)))
    ):
        raise ImproperlyConfigured(
            f"{name} ({value!r}) must be an https:// address (http:// only to this machine): the API "
            "token travels with every purge."
        )
    return value.rstrip("/")


# What may be purged.


def _listed(items, what):
    """``items`` as a list (None: an empty one); PurgeFailed for one string, or anything not iterable."""
    if items is None:
        return []
    if isinstance(items, str | bytes):
        raise PurgeFailed(f"{what} must be a list, not one string", retryable=False)
    try:
        return list(items)
    except TypeError:
        raise PurgeFailed(f"{what} must be a list, not {type(items).__name__}", retryable=False) from None


def _checked_keys(keys):
    checked = []
    for key in _listed(keys, "keys"):
        if not isinstance(key, str) or not _KEY.fullmatch(key) or len(key) > MAX_KEY_BYTES:
            raise PurgeFailed(
                f"refused the surrogate key {key!r}: keys are 1 to {MAX_KEY_BYTES} visible ASCII "
                "characters without spaces or commas",
                retryable=False,
            )
        checked.append(key)
    return list(dict.fromkeys(checked))


def _checked_urls(urls):
    checked = []
    for url in _listed(urls, "urls"):
        try:
            parts = urlsplit(url) if isinstance(url, str) else None
            parts and parts.port  # noqa: B018 -- raises ValueError on a port that is not a number
        except ValueError:
            parts = None
        if (
            not parts
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.username is not None
            or parts.password is not None
            or not url.isascii()
            or _UNSAFE_IN_URL.search(url)
        ):
            raise PurgeFailed(
                f"refused the address {url!r}: an absolute http(s) URL in ASCII, without spaces, is needed",
                retryable=False,
            )
        checked.append(url)
    return list(dict.fromkeys(checked))


def _target(parts):
    """The request target of a URL: its path and query (a fragment never reaches a server)."""
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _key_batches(keys, max_count, max_bytes=MAX_KEY_HEADER_BYTES):
    """Keys in order, in groups of at most ``max_count``, each at most ``max_bytes`` long space-joined."""
    batch, size = [], 0
    for key in keys:
        added = len(key) + (1 if batch else 0)
        if batch and (len(batch) == max_count or size + added > max_bytes):
            yield batch
            batch, size, added = [], 0, len(key)
        batch.append(key)
        size += added
    if batch:
        yield batch


def _chunks(items, size):
    for start in range(0, len(items), size):
        yield items[start : start + size]


# HTTP.


def _remaining(deadline):
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _excerpt(body, limit=200):
    """A short, single-line, printable excerpt of an answer, for a reason that ends up in logs."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _request(method, url, *, headers, body=None, timeout, where):
    """(status, answer bytes) of one exchange, within ``timeout`` seconds in all; PurgeFailed otherwise."""
    parts = urlsplit(url)
    deadline = time.monotonic() + timeout
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    response = None
    try:
        connection.request(method, _target(parts), body=body, headers={"User-Agent": USER_AGENT, **headers})
        # The connection lets go of its socket once an answer says it will close; the answer still reads it.
        sock = connection.sock
        sock.settimeout(_remaining(deadline))
        response = connection.getresponse()
        chunks, size = [], 0
        while True:
            sock.settimeout(_remaining(deadline))
            chunk = response.read1(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise PurgeFailed(f"{where} answered with over {MAX_ANSWER_BYTES:,} bytes")
            chunks.append(chunk)
        return response.status, b"".join(chunks)
    except TimeoutError:
        raise PurgeFailed(f"{where} did not answer within {timeout:g} s") from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise PurgeFailed(f"could not reach {where} ({type(exc).__name__})") from None
    finally:
        # An answer cut off still holds the socket: closed now, not whenever the garbage collector gets to it.
        if response is not None:
            response.close()
        connection.close()


def _json(body):
    try:
        return json.loads(body)
    except ValueError:
        return None


# The edges.


class Edge:
    name = "edge"

    def purge(self, keys=(), urls=()):
        keys, urls = _checked_keys(keys), _checked_urls(urls)
        if not keys and not urls:
            return
        try:
            self._purge(keys, urls)
        except PurgeFailed:
            raise
        except Exception as exc:
            # The caller keeps and retries what failed: whatever went wrong, it must hear PurgeFailed.
            raise PurgeFailed(f"{self.name}: unexpected {type(exc).__name__}: {_excerpt(str(exc))}") from exc

    def _purge(self, keys, urls):
        raise NotImplementedError


class NoEdge(Edge):
    """EDGE_PURGE_URL empty: no edge cache, nothing to purge (the keys and URLs are still checked)."""

    name = "no edge"

    def _purge(self, keys, urls):
        return None


class Varnish(Edge):
    """``PURGE /`` with ``xkey-purge: k1 k2 …`` on every server (the xkey vmod purges every object
    carrying one of the keys), and ``PURGE <path>`` with the URL's Host for each URL. Servers are
    independent caches: every one is tried, and the failure names those that did not confirm."""

    name = "Varnish"

    def __init__(self, servers, *, timeout=TIMEOUT):
        self.servers = servers
        self.timeout = timeout

    def _purge(self, keys, urls):
        failures = []
        for host, port in self.servers:
            netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            where, base = f"Varnish at {netloc}", f"http://{netloc}"
            try:
                # One server down costs one timeout: its other requests are not tried in this call.
                for batch in _key_batches(keys, max_count=len(keys)):
                    self._send(where, f"{base}/", {"xkey-purge": " ".join(batch)}, f"{len(batch)} keys")
                for url in urls:
                    parts = urlsplit(url)
                    self._send(where, f"{base}{_target(parts)}", {"Host": parts.netloc}, url)
            except PurgeFailed as exc:
                failures.append(exc.reason)
        if failures:
            raise PurgeFailed("; ".join(failures))

    def _send(self, where, url, headers, what):
        status, body = _request("PURGE", url, headers=headers, timeout=self.timeout, where=where)
        if not 200 <= status < 300:
            raise PurgeFailed(f"{where} answered {status} to the purge of {what}: {_excerpt(body)}")


class Fastly(Edge):
    """Keys: ``POST {api}/service/{id}/purge`` with ``Surrogate-Key: k1 k2 …`` (up to 256 keys a call),
    answered by a JSON object naming each key with its purge id. URLs: ``POST {api}/purge/{host}{path}``,
    one a call, answered ``{"status": "ok", …}``. Both with ``Fastly-Key: <token>``.

    Hard purges, never soft ones (no ``Fastly-Soft-Purge``): a soft purge only marks objects stale, and
    Fastly may go on serving a stale page while it revalidates or while the origin errs; a correction or
    an unpublished story must not be shown again once the purge is confirmed.

    URLs too, although every cacheable page carries keys: a URL is named when its cached answer may carry
    none (a 404 cached before the story existed at that address), and a purge it skipped would not be one
    the edge confirmed.
    """

    name = "Fastly"

    def __init__(self, service_id, token, *, api, timeout=TIMEOUT):
        self.service_id = service_id
        self.token = token
        self.api = api
        self.timeout = timeout

    def _post(self, path, headers):
        headers = {"Fastly-Key": self.token, "Accept": "application/json", **headers}
        status, body = _request(
            "POST", f"{self.api}{path}", headers=headers, timeout=self.timeout, where="the Fastly API"
        )
        answer = _json(body)
        if not 200 <= status < 300:
            detail = (answer.get("msg") or answer.get("detail")) if isinstance(answer, dict) else None
            raise PurgeFailed(f"the Fastly API answered {status}: {_excerpt(detail or body)}")
        if answer is None:
            raise PurgeFailed(f"the Fastly API answered {status} without JSON: {_excerpt(body)}")
        return answer

    def _purge(self, keys, urls):
        for batch in _key_batches(keys, FASTLY_MAX_KEYS):
            answer = self._post(f"/service/{self.service_id}/purge", {"Surrogate-Key": " ".join(batch)})
            if not isinstance(answer, dict) or any(key not in answer for key in batch):
                raise PurgeFailed(f"the Fastly API did not confirm every key: {_excerpt(json.dumps(answer))}")
        for url in urls:
            parts = urlsplit(url)
            answer = self._post(f"/purge/{parts.netloc}{_target(parts)}", {})
            if not isinstance(answer, dict) or answer.get("status") != "ok":
                raise PurgeFailed(f"the Fastly API did not confirm {url}: {_excerpt(json.dumps(answer))}")


class Cloudflare(Edge):
    """``POST {api}/zones/{zone}/purge_cache`` with ``Authorization: Bearer <token>`` and a JSON body:
    ``{"tags": [...]}`` for keys (the pages' Cache-Tag), ``{"files": [...]}`` for URLs, up to 100 a call.
    Confirmed only by ``"success": true`` in the answer, which Cloudflare sends with every status.

    purge_cache removes content, unlike invalidate_cache, which marks it stale and may serve it while
    revalidating or when the origin fails: a correction must not be served stale (as for Fastly).
    """

    name = "Cloudflare"

    def __init__(self, zone_id, token, *, api, timeout=TIMEOUT):
        self.zone_id = zone_id
        self.token = token
        self.api = api
        self.timeout = timeout

    def _post(self, payload):
        status, body = _request(
            "POST",
            f"{self.api}/zones/{self.zone_id}/purge_cache",
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            body=json.dumps(payload).encode(),
            timeout=self.timeout,
            where="the Cloudflare API",
        )
        answer = _json(body)
        if 200 <= status < 300 and isinstance(answer, dict) and answer.get("success") is True:
            return
        errors = answer.get("errors") if isinstance(answer, dict) else None
        if isinstance(errors, list) and errors:
            detail = "; ".join(_cloudflare_error(error) for error in errors)
        else:
            detail = body
        raise PurgeFailed(f"the Cloudflare API refused the purge (HTTP {status}): {_excerpt(detail)}")

    def _purge(self, keys, urls):
        for batch in _chunks(keys, CLOUDFLARE_MAX_TAGS):
            self._post({"tags": batch})
        for batch in _chunks(urls, CLOUDFLARE_MAX_FILES):
            self._post({"files": batch})


def _cloudflare_error(error):
    """An entry of an answer's ``errors``, e.g. ``{"code": 10000, "message": "Authentication error"}``."""
    if isinstance(error, dict):
        return f"{error.get('code', '')} {error.get('message', '')}".strip()
    return str(error)
