"""A fake of every embed provider on 127.0.0.1, reached through settings.EMBEDS_TEST_RESOLVE.

One HTTP server for the run (a thread); each test gets the good answers below and may replace any of
them (``fake.answer``) with a hostile one: another status, a redirect, a slow or endless body, a
picture that is not one. Requests are recorded (``fake.requests``) as (host, path with query).
"""

import io
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

VIDEO_ID = "Qx3TeardwnA"
MASTODON_URL = "https://mastodon.social/@quantixlabs/113502864120394117"
YOUTUBE_URL = f"https://www.youtube.com/watch?v={VIDEO_ID}"
VIMEO_URL = "https://vimeo.com/76979871"
X_URL = "https://x.com/quantixlabs/status/1858123456789012345"
BLUESKY_URL = "https://bsky.app/profile/quantix.bsky.social/post/3lbqta5lnck2i"
GIST_URL = "https://gist.github.com/conclave-labs/5b1f3c2a9d8e4f60a7b1c2d3e4f5a6b7"
CODEPEN_URL = "https://codepen.io/quantix/pen/abcDEF1"

HOSTS = [
    "www.youtube.com",
    "i.ytimg.com",
    "vimeo.com",
    "i.vimeocdn.com",
    "publish.twitter.com",
    "public.api.bsky.app",
    "cdn.bsky.app",
    "mastodon.social",
    "files.mastodon.social",
    "api.github.com",
    "codepen.io",
    "shots.codepen.io",
    # Never a provider's: for redirects that must be refused.
    "evil.example",
]


def jpeg_bytes(size=(640, 360), colour=(200, 40, 40)):
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "JPEG")
    return buffer.getvalue()


def good_answers():
    thumb = jpeg_bytes()
    return {
        ("www.youtube.com", "/oembed"): Answer.json(
            {
                "title": "Quantix Q3 teardown, narrated",
                "author_name": "Quantix Labs",
                "author_url": "https://www.youtube.com/@quantixlabs",
                "thumbnail_url": f"https://i.ytimg.com/vi/{VIDEO_ID}/hqdefault.jpg",
                "html": '<iframe src="https://www.youtube.com/embed/x"></iframe><script>alert(1)</script>',
            }
        ),
        ("i.ytimg.com", f"/vi/{VIDEO_ID}/hqdefault.jpg"): Answer(body=thumb, type="image/jpeg"),
        ("vimeo.com", "/api/oembed.json"): Answer.json(
            {
                "title": "A Vimeo film",
                "author_name": "Film Maker",
                "thumbnail_url": "https://i.vimeocdn.com/v/1.jpg",
            }
        ),
        ("i.vimeocdn.com", "/v/1.jpg"): Answer(body=thumb, type="image/jpeg"),
        ("publish.twitter.com", "/oembed"): Answer.json(
            {
                "author_name": "Quantix Labs",
                "author_url": "https://twitter.com/quantixlabs",
                "html": '<blockquote class="twitter-tweet"><p lang="en" dir="ltr">Our Q3 card is out.<br>'
                "Teardown soon.</p>&mdash; Quantix Labs (@quantixlabs) "
                '<a href="https://twitter.com/quantixlabs/status/1">November 19, 2024</a></blockquote>\n'
                '<script async src="https://platform.twitter.com/widgets.js"></script>',
            }
        ),
        ("public.api.bsky.app", "/xrpc/app.bsky.feed.getPosts"): Answer.json(
            {
                "posts": [
                    {
                        "author": {"handle": "quantix.bsky.social", "displayName": "Quantix"},
                        "record": {"text": "Bluesky post text", "createdAt": "2024-11-20T10:00:00.000Z"},
                    }
                ]
            }
        ),
        ("mastodon.social", "/api/v1/statuses/113502864120394117"): Answer.json(
            {
                "content": "<p>Ask me anything about the Q3 card's cooling.</p><p>Thread below.</p>",
                "created_at": "2024-11-19T15:04:05.000Z",
                "account": {
                    "acct": "quantixlabs",
                    "display_name": "Quantix Labs",
                    "url": "https://mastodon.social/@quantixlabs",
                },
                "media_attachments": [],
            }
        ),
        ("api.github.com", "/gists/5b1f3c2a9d8e4f60a7b1c2d3e4f5a6b7"): Answer.json(
            {
                "description": "Q3 telemetry sampler",
                "created_at": "2024-11-18T09:00:00Z",
                "owner": {"login": "conclave-labs", "html_url": "https://github.com/conclave-labs"},
                "files": {"sample.py": {"filename": "sample.py", "content": "print('<b>watts</b>')\n"}},
            }
        ),
        ("codepen.io", "/api/oembed"): Answer.json(
            {
                "title": "Thermal map",
                "author_name": "Quantix",
                "author_url": "https://codepen.io/quantix",
                "thumbnail_url": "https://shots.codepen.io/quantix/pen/abcDEF1-800.jpg",
            }
        ),
        ("shots.codepen.io", "/quantix/pen/abcDEF1-800.jpg"): Answer(body=thumb, type="image/jpeg"),
    }


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    type: str = "application/json"
    headers: dict = field(default_factory=dict)
    delay: float = 0.0  # before the headers
    trickle: float = 0.0  # seconds between single bytes of the body
    length: int | None = None  # a Content-Length to claim (None: the true one)

    @classmethod
    def json(cls, data, **kwargs):
        return cls(body=json.dumps(data).encode(), **kwargs)

    @classmethod
    def redirect(cls, location, status=302):
        return cls(status=status, headers={"Location": location})


class FakeProviders:
    def __init__(self):
        self.answers = {}
        self.requests = []
        handler = type("Handler", (_Handler,), {"fake": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        # One request now, so the server's lazy imports are done before any test forks a renderer.
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{self.port}/warm-up", timeout=5).read()  # noqa: S310
        except urllib.error.HTTPError as exc:  # the 404 it is meant to get
            exc.close()

    def reset(self):
        self.answers = good_answers()
        self.requests = []

    def answer(self, host, path, answer):
        self.answers[(host, path)] = answer

    def resolve(self):
        return dict.fromkeys(HOSTS, f"127.0.0.1:{self.port}")


class _Handler(BaseHTTPRequestHandler):
    fake = None

    def log_message(self, *args):
        pass

    def do_GET(self):
        host = self.headers.get("Host", "")
        path = self.path.split("?")[0]
        self.fake.requests.append((host, self.path))
        answer = self.fake.answers.get((host, path), Answer(status=404, body=b"{}"))
        time.sleep(answer.delay)
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.type)
            length = answer.length if answer.length is not None else len(answer.body)
            self.send_header("Content-Length", str(length))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if answer.trickle:
                for byte in answer.body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(answer.trickle)
            else:
                self.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            pass


_server = None


@pytest.fixture
def fake_providers(settings):
    """The fake providers, with good answers, reachable for this test."""
    global _server
    if _server is None:
        _server = FakeProviders()
    _server.reset()
    settings.EMBEDS_TEST_RESOLVE = _server.resolve()
    return _server
