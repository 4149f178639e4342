"""Fakes of the edges conclave/edgepurge.py purges, each an HTTP server on 127.0.0.1 (a free port, a thread).

They check what the real ones are documented to require and answer the way they do:

- FakeVarnish: ``PURGE`` only; ``xkey-purge: k1 k2 …`` on ``/`` purges by key (the xkey vmod, as our
  VCL calls it), otherwise the path and Host name one object; a header over Varnish's default
  http_req_hdr_len (8 KiB) is a 400. The real varnishd is tested with the VCL, elsewhere.
- FakeFastly: ``POST /service/<id>/purge`` with ``Surrogate-Key`` (1 to 256 keys) answers a JSON object
  of key → purge id; ``POST /purge/<host><path>`` answers ``{"status": "ok", "id": …}``; a missing or
  wrong ``Fastly-Key`` is a 401 ``{"msg": "Provided credentials are missing or invalid"}``.
- FakeCloudflare: ``POST <base>/zones/<zone>/purge_cache`` with ``Authorization: Bearer <token>`` and a
  JSON body of ``tags`` or ``files`` (1 to 100); every answer is Cloudflare's envelope
  ``{"success": …, "errors": [{"code", "message"}], "messages": [], "result": …}`` (a bad token is
  Cloudflare's 403 with code 10000, "Authentication error"; the fake's other error codes are its own).

A request the real service would refuse gets the refusal, so a client sending the wrong shape fails its
test. Every request is recorded (``fake.requests``: method, path, query, lower-cased headers, body).
``fake.queue(Answer(...))`` makes the next requests get hostile answers instead (a status, a body, a
delay before the headers, a body trickled a byte or a piece at a time); ``fake.delay`` slows every
answer.
"""

import json
import re
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

VARNISH_MAX_HEADER_BYTES = 8192
FASTLY_MAX_KEYS = 256
CLOUDFLARE_MAX_ITEMS = 100
# What the fakes accept; made up, like the ids (a Cloudflare zone id is 32 hex digits).
FASTLY_SERVICE_ID = "SU1Z0isxPaozGVKXdv0eY"
FASTLY_TOKEN = "fastly-test-token-0123456789"
CLOUDFLARE_ZONE_ID = "023e105f4ecef8ad9ca31a8372d0c353"
CLOUDFLARE_TOKEN = "cloudflare-test-token-0123456789"


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


def byte_by_byte(body):
    return (body[i : i + 1] for i in range(len(body)))


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    type: str = "application/json"
    headers: dict = field(default_factory=dict)
    delay: float = 0.0  # seconds before the headers
    trickle: float = 0.0  # seconds between pieces of the body
    pieces: Callable[[bytes], Iterable[bytes]] = byte_by_byte  # what a trickled body is cut into

    @classmethod
    def json(cls, data, status=200, **kwargs):
        return cls(status=status, body=json.dumps(data).encode(), **kwargs)


class FakeServer:
    """A threaded HTTP server on 127.0.0.1 answering with ``self.answer(request)``."""

    def __init__(self):
        self.requests = []
        self.delay = 0.0
        self._queued = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        handler = type("Handler", (_Handler,), {"fake": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.address = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def stop(self):
        self._stopping.set()  # cuts a slow answer's wait short
        self.server.shutdown()
        self.server.server_close()

    def queue(self, *answers):
        """The next requests get these answers, in order, whatever they ask."""
        self._queued.extend(answers)

    def respond(self, request):
        with self._lock:
            self.requests.append(request)
            queued = self._queued.pop(0) if self._queued else None
        return queued or self.answer(request)

    def answer(self, request):
        raise NotImplementedError

    def wait(self, seconds):
        self._stopping.wait(seconds)


class _Handler(BaseHTTPRequestHandler):
    fake = None

    def log_message(self, *args):
        pass

    def _handle(self):
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = Request(self.command, parts.path, parts.query, headers, body)
        answer = self.fake.respond(request)
        self.fake.wait(max(answer.delay, self.fake.delay))
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.type)
            self.send_header("Content-Length", str(len(answer.body)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if answer.trickle:
                for piece in answer.pieces(answer.body):
                    self.wfile.write(piece)
                    self.wfile.flush()
                    self.fake.wait(answer.trickle)
            else:
                self.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_GET = do_POST = do_PURGE = do_PUT = do_DELETE = _handle


class FakeVarnish(FakeServer):
    def __init__(self):
        super().__init__()
        self.purged_keys = []
        self.purged_urls = []  # (host, path with query)

    @staticmethod
    def synth(status, reason):
        body = f"<!DOCTYPE html><html><head><title>{status} {reason}</title></head></html>".encode()
        return Answer(status=status, body=body, type="text/html; charset=utf-8")

    def answer(self, request):
        if request.method != "PURGE":
            return self.synth(405, "Method Not Allowed")
        if any(
            len(name) + 2 + len(value) > VARNISH_MAX_HEADER_BYTES for name, value in request.headers.items()
        ):
            return self.synth(400, "Bad Request")
        if "xkey-purge" in request.headers:
            keys = request.headers["xkey-purge"].split()
            if request.path != "/" or not keys:
                return self.synth(400, "Bad Request")
            self.purged_keys.extend(keys)
            return self.synth(200, f"Invalidated {len(keys)} objects")
        target = request.path + (f"?{request.query}" if request.query else "")
        self.purged_urls.append((request.headers.get("host", ""), target))
        return self.synth(200, "Purged")


class FakeFastly(FakeServer):
    def __init__(self, service_id=FASTLY_SERVICE_ID, token=FASTLY_TOKEN):
        super().__init__()
        self.service_id = service_id
        self.token = token
        self.api = f"http://{self.address}"

    @staticmethod
    def error(status, msg, detail=""):
        return Answer.json({"msg": msg, "detail": detail}, status=status)

    def answer(self, request):
        if request.headers.get("fastly-key") != self.token:
            return self.error(401, "Provided credentials are missing or invalid")
        if request.method != "POST":
            return self.error(405, "Method not allowed")
        if request.headers.get("accept") != "application/json":
            return self.error(406, "Not acceptable", "this fake answers JSON only, and says so")
        if "fastly-soft-purge" in request.headers:
            return self.error(
                400, "Bad request", "this fake refuses soft purges: the site asks for hard ones"
            )
        found = re.fullmatch(r"/service/([^/]+)/purge", request.path)
        if found:
            if found[1] != self.service_id:
                return self.error(404, "Record not found", f"Cannot find service '{found[1]}'")
            keys = request.headers.get("surrogate-key", "").split()
            if not keys or len(keys) > FASTLY_MAX_KEYS:
                return self.error(400, "Bad request", f"{len(keys)} surrogate keys: 1 to 256 may be purged")
            return Answer.json({key: f"108-1391560174-{secrets.token_hex(4)}" for key in keys})
        found = re.fullmatch(r"/purge/([^/]+)(/.*)", request.path)
        if found:
            return Answer.json({"status": "ok", "id": f"108-1391560174-{secrets.token_hex(4)}"})
        return self.error(404, "Record not found")


class FakeCloudflare(FakeServer):
    def __init__(self, zone_id=CLOUDFLARE_ZONE_ID, token=CLOUDFLARE_TOKEN):
        super().__init__()
        self.zone_id = zone_id
        self.token = token
        self.api = f"http://{self.address}/client/v4"

    @staticmethod
    def envelope(success, errors=(), result=None, status=200):
        errors = [{"code": code, "message": message} for code, message in errors]
        return Answer.json(
            {"success": success, "errors": errors, "messages": [], "result": result}, status=status
        )

    def refuse(self, code, message, status=400):
        return self.envelope(False, [(code, message)], status=status)

    def answer(self, request):
        if request.path != f"/client/v4/zones/{self.zone_id}/purge_cache":
            return self.refuse(7003, "Could not route to the path; perhaps the zone id is wrong", 404)
        if request.method != "POST":
            return self.refuse(10405, "Method not allowed", 405)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return self.refuse(10000, "Authentication error", 403)
        if request.headers.get("content-type", "").split(";")[0] != "application/json":
            return self.refuse(6003, "Invalid request headers")
        try:
            payload = json.loads(request.body)
        except ValueError:
            return self.refuse(6007, "Malformed JSON in request body")
        if not isinstance(payload, dict) or len(payload) != 1 or not {"tags", "files"} & set(payload):
            return self.refuse(1012, "Request must contain exactly one of 'files' or 'tags'")
        (items,) = payload.values()
        if not isinstance(items, list) or not all(isinstance(item, str) and item for item in items):
            return self.refuse(1015, "Request must be a list of strings")
        if not 1 <= len(items) <= CLOUDFLARE_MAX_ITEMS:
            return self.refuse(
                1011, f"{len(items)} items: 1 to {CLOUDFLARE_MAX_ITEMS} may be purged at a time"
            )
        if "files" in payload and not all(item.startswith(("http://", "https://")) for item in items):
            return self.refuse(1018, "Files must be absolute URLs")
        return self.envelope(True, result={"id": secrets.token_hex(16)})
