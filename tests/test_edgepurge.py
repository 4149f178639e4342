"""Purging the edge (conclave/edgepurge.py): the requests each edge is sent, batching at its limits, every
kind of failure heard as PurgeFailed and nothing else, the timeout, and the configuration refusing to start
without what an edge needs.

Varnish, Fastly and Cloudflare are faked on 127.0.0.1 (tests/support/fake_edges.py); an autouse fixture
points the API addresses at a closed local port, so no test can reach the real services.
"""

import gc
import json
import socket
import threading
import time
import warnings

import pytest
from django.core.exceptions import ImproperlyConfigured

from conclave import edgepurge
from conclave.edgepurge import PurgeFailed
from tests.support.fake_edges import (
    CLOUDFLARE_TOKEN,
    FASTLY_SERVICE_ID,
    FASTLY_TOKEN,
    Answer,
    FakeCloudflare,
    FakeFastly,
    FakeVarnish,
)
from tests.support.production import PRODUCTION_ENV, check_deploy, manage

STORY = "https://news.example.com/news/quantix-q3-teardown/"
TAG_PAGE_2 = "https://news.example.com/tags/semiconductors/?page=2"


def closed_port():
    """A port on 127.0.0.1 nothing listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def edge_settings(settings, monkeypatch):
    """No edge, APIs at a closed local port, no tokens, a short timeout: each test sets what it uses."""
    settings.EDGE_PURGE_URL = ""
    settings.FASTLY_API_URL = f"http://127.0.0.1:{closed_port()}"
    settings.CLOUDFLARE_API_URL = f"http://127.0.0.1:{closed_port()}/client/v4"
    settings.EDGE_PURGE_TIMEOUT = 2.0
    monkeypatch.delenv("FASTLY_API_TOKEN", raising=False)
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    return settings


@pytest.fixture
def varnishes(settings):
    fakes = [FakeVarnish(), FakeVarnish()]
    settings.EDGE_PURGE_URL = "varnish://" + ",".join(fake.address for fake in fakes)
    yield fakes
    for fake in fakes:
        fake.stop()


@pytest.fixture
def fastly(settings, monkeypatch):
    fake = FakeFastly()
    settings.EDGE_PURGE_URL = f"fastly://{fake.service_id}"
    settings.FASTLY_API_URL = fake.api
    monkeypatch.setenv("FASTLY_API_TOKEN", fake.token)
    yield fake
    fake.stop()


@pytest.fixture
def cloudflare(settings, monkeypatch):
    fake = FakeCloudflare()
    settings.EDGE_PURGE_URL = f"cloudflare://{fake.zone_id}"
    settings.CLOUDFLARE_API_URL = fake.api
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", fake.token)
    yield fake
    fake.stop()


def failure(keys=(), urls=()):
    """The PurgeFailed a purge raises (any other exception, or none, fails the test)."""
    with pytest.raises(PurgeFailed) as caught:
        edgepurge.purge(keys, urls)
    return caught.value


def keys_of(count, prefix="story"):
    return [f"{prefix}-{n}" for n in range(count)]


# No edge.


def test_without_an_edge_purging_does_nothing(monkeypatch):
    def no_request(*args, **kwargs):
        raise AssertionError("no edge, so no request")

    monkeypatch.setattr(edgepurge, "_request", no_request)
    assert isinstance(edgepurge.edge(), edgepurge.NoEdge)
    assert edgepurge.purge(["story-12", "site"], [STORY]) is None


def test_without_an_edge_bad_keys_are_still_refused():
    assert failure(["two words"]).retryable is False


# Varnish.


def test_varnish_gets_keys_in_xkey_purge_and_each_url_by_path_and_host_on_every_server(varnishes):
    edgepurge.purge(["story-12", "card-12", "list-home"], [STORY, TAG_PAGE_2])
    for fake in varnishes:
        assert [(r.method, r.path, r.query) for r in fake.requests] == [
            ("PURGE", "/", ""),
            ("PURGE", "/news/quantix-q3-teardown/", ""),
            ("PURGE", "/tags/semiconductors/", "page=2"),
        ]
        keys, *urls = fake.requests
        assert keys.headers["xkey-purge"] == "story-12 card-12 list-home"
        assert keys.body == b""
        assert [r.headers["host"] for r in urls] == ["news.example.com", "news.example.com"]
        assert all("xkey-purge" not in r.headers for r in urls)
        assert fake.purged_keys == ["story-12", "card-12", "list-home"]


def test_varnish_keys_are_batched_so_each_header_stays_under_7000_bytes(varnishes):
    keys = keys_of(2000)  # 20,889 bytes space-joined
    edgepurge.purge(keys)
    fake = varnishes[0]
    values = [r.headers["xkey-purge"] for r in fake.requests]
    assert len(values) == 3
    assert all(len(value) <= 7000 for value in values)
    assert " ".join(values).split() == keys  # each key once, in order
    assert fake.purged_keys == keys


def test_varnish_batches_at_exactly_7000_bytes(varnishes):
    fitting = [f"{n}" + "k" * 999 for n in range(7)]  # 7 keys of 1000 bytes: 7006 with the spaces
    edgepurge.purge(fitting[:6] + ["x" * 994])  # 6 × 1000 + 994 + 6 spaces = 7000
    assert len(varnishes[0].requests) == 1
    edgepurge.purge(fitting)
    assert [len(r.headers["xkey-purge"].split()) for r in varnishes[0].requests[1:]] == [6, 1]


def test_duplicate_keys_and_urls_are_sent_once(varnishes):
    edgepurge.purge(["nav", "site", "nav"], [STORY, STORY])
    assert [r.headers.get("xkey-purge") for r in varnishes[0].requests] == ["nav site", None]


@pytest.mark.parametrize(
    "answer",
    [
        FakeVarnish.synth(403, "Forbidden"),
        FakeVarnish.synth(405, "Method Not Allowed"),
        FakeVarnish.synth(503, "Backend fetch failed"),
        Answer(status=301, headers={"Location": "http://elsewhere.example/"}),
    ],
    ids=["403", "405", "503", "redirect"],
)
def test_a_varnish_server_refusing_fails_the_purge_and_the_other_is_still_purged(varnishes, answer):
    refusing, other = varnishes
    refusing.queue(answer)
    reason = failure(["story-12"]).reason
    assert f"Varnish at {refusing.address} answered {answer.status}" in reason
    assert other.address not in reason
    assert other.purged_keys == ["story-12"]
    assert len(refusing.requests) == 1  # a server that failed is not asked again in the same purge


def test_a_varnish_server_refusing_connections_fails_the_purge(settings, varnishes):
    dead = f"127.0.0.1:{closed_port()}"
    settings.EDGE_PURGE_URL = f"varnish://{dead},{varnishes[0].address}"
    error = failure(["story-12"], [STORY])
    assert error.reason == f"could not reach Varnish at {dead} (ConnectionRefusedError)"
    assert error.retryable is True
    assert varnishes[0].purged_keys == ["story-12"]


def test_a_slow_varnish_server_costs_one_timeout_not_one_per_request(settings, varnishes):
    settings.EDGE_PURGE_TIMEOUT = 0.5
    slow, other = varnishes
    slow.delay = 5
    started = time.monotonic()
    reason = failure(keys_of(3), [STORY, TAG_PAGE_2]).reason
    assert time.monotonic() - started < 1.5
    assert reason == f"Varnish at {slow.address} did not answer within 0.5 s"
    assert len(slow.requests) == 1
    assert len(other.requests) == 3


# Fastly.


def test_fastly_gets_a_hard_bulk_key_purge_and_a_purge_per_url(fastly):
    edgepurge.purge(["story-12", "card-12", "list-home"], [STORY, TAG_PAGE_2])
    keys, story, tag_page = fastly.requests
    assert (keys.method, keys.path, keys.query) == ("POST", f"/service/{FASTLY_SERVICE_ID}/purge", "")
    assert keys.headers["surrogate-key"] == "story-12 card-12 list-home"
    assert (story.method, story.path, story.query) == (
        "POST",
        "/purge/news.example.com/news/quantix-q3-teardown/",
        "",
    )
    assert (tag_page.path, tag_page.query) == ("/purge/news.example.com/tags/semiconductors/", "page=2")
    for request in fastly.requests:
        assert request.headers["fastly-key"] == FASTLY_TOKEN
        assert request.headers["accept"] == "application/json"
        assert "fastly-soft-purge" not in request.headers  # hard purges only
        assert request.body == b""


@pytest.mark.parametrize("count, calls", [(1, [1]), (256, [256]), (257, [256, 1]), (300, [256, 44])])
def test_fastly_takes_at_most_256_keys_a_call(fastly, count, calls):
    keys = keys_of(count)
    edgepurge.purge(keys)
    sent = [r.headers["surrogate-key"].split() for r in fastly.requests]
    assert [len(batch) for batch in sent] == calls
    assert sum(sent, []) == keys


def test_fastly_long_keys_are_batched_by_header_size_too(fastly):
    keys = [f"{n}" + "k" * 999 for n in range(10)]
    edgepurge.purge(keys)
    assert [len(r.headers["surrogate-key"].split()) for r in fastly.requests] == [6, 4]


def test_fastly_with_a_wrong_token_fails_without_saying_the_token(fastly, monkeypatch):
    monkeypatch.setenv("FASTLY_API_TOKEN", "a-revoked-token-999")
    error = failure(["story-12"])
    assert error.reason == "the Fastly API answered 401: Provided credentials are missing or invalid"
    assert error.retryable is True
    assert "a-revoked-token-999" not in repr(error)


def test_fastly_with_another_service_id_fails(fastly, settings):
    settings.EDGE_PURGE_URL = "fastly://SomeoneElsesService1"
    assert failure(["story-12"]).reason == "the Fastly API answered 404: Record not found"


@pytest.mark.parametrize(
    "answer, says",
    [
        (Answer(status=500, body=b"<html>Internal Server Error</html>", type="text/html"), "answered 500"),
        (Answer.json({"msg": "Service unavailable"}, status=503), "answered 503: Service unavailable"),
        (Answer(status=302, headers={"Location": "https://api.fastly.com/elsewhere"}), "answered 302"),
        (Answer(body=b"<html>OK</html>", type="text/html"), "answered 200 without JSON"),
        (Answer.json({"story-12": "108-1"}), "did not confirm every key"),
        (Answer.json(["story-12", "card-12"]), "did not confirm every key"),
    ],
    ids=["500", "503", "redirect", "not-json", "a-key-missing", "not-an-object"],
)
def test_fastly_failures_of_every_kind_are_purge_failed(fastly, answer, says):
    fastly.queue(answer)
    assert says in failure(["story-12", "card-12"]).reason


def test_fastly_url_purge_not_ok_is_a_failure(fastly):
    fastly.queue(Answer.json({"status": "error", "id": ""}))
    assert failure(urls=[STORY]).reason.startswith(f"the Fastly API did not confirm {STORY}")


def test_fastly_stops_at_the_first_failed_batch(fastly):
    fastly.queue(Answer.json({"msg": "Service unavailable"}, status=503))
    failure(keys_of(600))
    assert len(fastly.requests) == 1


# Cloudflare.


def test_cloudflare_gets_tags_and_files_in_separate_json_requests(cloudflare):
    edgepurge.purge(["story-12", "card-12", "list-home"], [STORY, TAG_PAGE_2])
    tags, files = cloudflare.requests
    assert tags.json() == {"tags": ["story-12", "card-12", "list-home"]}
    assert files.json() == {"files": [STORY, TAG_PAGE_2]}
    for request in cloudflare.requests:
        assert (request.method, request.path) == (
            "POST",
            f"/client/v4/zones/{cloudflare.zone_id}/purge_cache",
        )
        assert request.headers["authorization"] == f"Bearer {CLOUDFLARE_TOKEN}"
        assert request.headers["content-type"] == "application/json"


def test_cloudflare_takes_at_most_100_tags_or_100_urls_a_call(cloudflare):
    keys = keys_of(250)
    urls = [f"https://news.example.com/news/story-{n}/" for n in range(150)]
    edgepurge.purge(keys, urls)
    sent = [request.json() for request in cloudflare.requests]
    assert [(list(body), len(*body.values())) for body in sent] == [
        (["tags"], 100),
        (["tags"], 100),
        (["tags"], 50),
        (["files"], 100),
        (["files"], 50),
    ]
    assert sum((body.get("tags", []) for body in sent), []) == keys
    assert sum((body.get("files", []) for body in sent), []) == urls


def test_cloudflare_with_exactly_100_tags_makes_one_call(cloudflare):
    edgepurge.purge(keys_of(100))
    assert len(cloudflare.requests) == 1


def test_cloudflare_with_a_wrong_token_fails_with_its_error(cloudflare, monkeypatch):
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "a-revoked-token-999")
    error = failure(["story-12"])
    assert error.reason == "the Cloudflare API refused the purge (HTTP 403): 10000 Authentication error"
    assert "a-revoked-token-999" not in repr(error)


@pytest.mark.parametrize(
    "answer, says",
    [
        (
            FakeCloudflare.envelope(False, [(1134, "Purge rate limit exceeded"), (1135, "Try later")]),
            "(HTTP 200): 1134 Purge rate limit exceeded; 1135 Try later",
        ),
        (
            FakeCloudflare.envelope(False, [(10001, "Unknown error")], status=429),
            "(HTTP 429): 10001 Unknown error",
        ),
        (Answer(status=502, body=b"<html>502 Bad Gateway</html>", type="text/html"), "(HTTP 502): <html>502"),
        (Answer(body=b"OK", type="text/plain"), "(HTTP 200): OK"),
        (Answer.json({"errors": [], "result": {"id": "x"}}), "(HTTP 200)"),
        (Answer.json({"success": "true"}), "(HTTP 200)"),
        (Answer(status=307, headers={"Location": "https://api.cloudflare.com/"}), "(HTTP 307)"),
    ],
    ids=["success-false", "429", "502-html", "not-json", "no-success", "success-a-string", "redirect"],
)
def test_cloudflare_failures_of_every_kind_are_purge_failed(cloudflare, answer, says):
    cloudflare.queue(answer)
    reason = failure(["story-12"]).reason
    assert reason.startswith("the Cloudflare API refused the purge")
    assert says in reason


# Timeouts, connections, proxies: every edge goes through the same request.


@pytest.mark.parametrize("edge", ["fastly", "cloudflare"])
@pytest.mark.parametrize("slowness", ["delay", "trickle"])
def test_a_slow_api_is_cut_off_at_the_timeout(request, settings, edge, slowness):
    fake = request.getfixturevalue(edge)
    settings.EDGE_PURGE_TIMEOUT = 0.5
    body = json.dumps({"success": True, "story-12": "1"}).encode()
    fake.queue(Answer(body=body, delay=3) if slowness == "delay" else Answer(body=body, trickle=0.1))
    started = time.monotonic()
    reason = failure(["story-12"]).reason
    assert time.monotonic() - started < 1.5
    assert reason.endswith("API did not answer within 0.5 s")


@pytest.mark.parametrize("edge", ["fastly", "cloudflare"])
def test_an_api_refusing_connections_is_purge_failed(request, settings, edge):
    request.getfixturevalue(edge)
    setattr(settings, f"{edge.upper()}_API_URL", f"http://127.0.0.1:{closed_port()}")
    assert failure(["story-12"]).reason.endswith("API (ConnectionRefusedError)")


def test_an_answer_without_http_is_purge_failed(cloudflare, settings):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        settings.CLOUDFLARE_API_URL = f"http://127.0.0.1:{listener.getsockname()[1]}"

        def hang_up():
            connection, _ = listener.accept()
            connection.recv(65536)
            connection.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
            connection.close()

        threading.Thread(target=hang_up, daemon=True).start()
        assert failure(["story-12"]).reason == "could not reach the Cloudflare API (BadStatusLine)"


def test_an_endless_answer_is_cut_off(fastly):
    fastly.queue(Answer(body=b"x" * (200 * 1024)))
    assert failure(["story-12"]).reason == "the Fastly API answered with over 65,536 bytes"


def test_a_purge_cut_off_mid_answer_lets_go_of_its_connection(fastly):
    # The socket is closed by the purge, not left to the garbage collector (a ResourceWarning when it is).
    fastly.queue(Answer(body=b"x" * (200 * 1024)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        failure(["story-12"])
        gc.collect()
    assert [str(warning.message) for warning in caught if warning.category is ResourceWarning] == []


def test_proxies_from_the_environment_are_not_used(fastly, monkeypatch):
    proxy = f"http://127.0.0.1:{closed_port()}"
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    edgepurge.purge(["story-12"])
    assert len(fastly.requests) == 1


def test_an_unexpected_error_inside_a_client_is_still_purge_failed(cloudflare, monkeypatch):
    def broken(body):
        raise RuntimeError("a bug")

    monkeypatch.setattr(edgepurge, "_json", broken)
    error = failure(["story-12"])
    assert error.reason == "Cloudflare: unexpected RuntimeError: a bug"
    assert isinstance(error.__cause__, RuntimeError)


def test_nothing_to_purge_sends_nothing(fastly):
    edgepurge.purge([], [])
    assert fastly.requests == []


# What may be purged: refused before anything is sent, and not worth retrying.


@pytest.mark.parametrize(
    "keys",
    [
        ["story 12"],
        ["story-12,card-12"],
        [""],
        ["histoire-é"],
        ["story-12\r\nFastly-Soft-Purge: 1"],
        ["k" * 1025],
        [12],
        [None],
        "story-12",
    ],
    ids=["space", "comma", "empty", "non-ascii", "header-injection", "too-long", "int", "none", "one-string"],
)
def test_keys_no_edge_can_take_are_refused_before_sending(fastly, keys):
    error = failure(keys)
    assert error.retryable is False
    assert fastly.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "/news/quantix-q3-teardown/",
        "news.example.com/news/x/",
        "ftp://news.example.com/news/x/",
        "javascript:alert(1)",
        "https://news.example.com/news/a story/",
        "https://news.example.com/news/x/\r\nX-Injected: 1",
        "https://user:secret@news.example.com/",
        "https://news.example.com:port/",
        "https:///news/x/",
        "https://news.example.com/news/café/",
        b"https://news.example.com/",
    ],
)
def test_urls_no_edge_can_take_are_refused_before_sending(cloudflare, url):
    error = failure(urls=[url])
    assert error.retryable is False
    assert cloudflare.requests == []


@pytest.mark.parametrize("keys, urls", [(5, []), (["story-12"], 5), ("story-12", []), ([], STORY)])
def test_keys_or_urls_not_given_as_a_list_are_refused(fastly, keys, urls):
    assert failure(keys, urls).retryable is False
    assert fastly.requests == []


def test_none_is_nothing_to_purge(fastly):
    edgepurge.purge(None, None)
    edgepurge.purge(["story-12"], None)
    assert [r.headers["surrogate-key"] for r in fastly.requests] == ["story-12"]


def test_a_token_gone_from_the_environment_since_start_up_is_purge_failed(fastly, monkeypatch):
    monkeypatch.delenv("FASTLY_API_TOKEN")
    error = failure(["story-12"])
    assert "FASTLY_API_TOKEN is not set" in error.reason
    assert error.retryable is True
    assert fastly.requests == []


def test_the_longest_key_allowed_is_sent(fastly):
    edgepurge.purge(["k" * 1024])
    assert fastly.requests[0].headers["surrogate-key"] == "k" * 1024


# Configuration.

API = {"fastly_api": "https://api.fastly.com", "cloudflare_api": "https://api.cloudflare.com/client/v4"}
TOKENS = {"FASTLY_API_TOKEN": FASTLY_TOKEN, "CLOUDFLARE_API_TOKEN": CLOUDFLARE_TOKEN}


@pytest.mark.parametrize(
    "url, servers",
    [
        ("varnish://127.0.0.1:6081", [("127.0.0.1", 6081)]),
        ("varnish://10.0.0.5:6081, 10.0.0.6:6082", [("10.0.0.5", 6081), ("10.0.0.6", 6082)]),
        (
            "varnish://cache-a.internal:6081,varnish://cache-b.internal",
            [("cache-a.internal", 6081), ("cache-b.internal", 80)],
        ),
        ("varnish://[::1]:6081", [("::1", 6081)]),
    ],
)
def test_varnish_urls_name_every_server(url, servers):
    edge = edgepurge.configure(url, environ={}, **API)
    assert isinstance(edge, edgepurge.Varnish)
    assert edge.servers == servers


def test_fastly_and_cloudflare_urls_name_the_service_and_read_the_token_from_the_environment():
    fastly = edgepurge.configure(f"fastly://{FASTLY_SERVICE_ID}", environ=TOKENS, **API)
    assert (type(fastly), fastly.service_id, fastly.token, fastly.api) == (
        edgepurge.Fastly,
        FASTLY_SERVICE_ID,
        FASTLY_TOKEN,
        "https://api.fastly.com",
    )
    cloudflare = edgepurge.configure("cloudflare://023e105f4ecef8ad9ca31a8372d0c353", environ=TOKENS, **API)
    assert (type(cloudflare), cloudflare.zone_id, cloudflare.token, cloudflare.api) == (
        edgepurge.Cloudflare,
        "023e105f4ecef8ad9ca31a8372d0c353",
        CLOUDFLARE_TOKEN,
        "https://api.cloudflare.com/client/v4",
    )


@pytest.mark.parametrize("url", ["", "   "])
def test_an_empty_url_is_no_edge(url):
    assert isinstance(edgepurge.configure(url, environ={}, **API), edgepurge.NoEdge)


@pytest.mark.parametrize(
    "url",
    [
        "varnish://",
        "varnish://,",
        "varnish://cache:port",
        "varnish://cache:6081/purge",
        "varnish://admin@cache:6081",
        "varnish:cache:6081",
        "fastly://",
        "fastly://SU1Z0isx/purge",
        "fastly://SU1Z0isx?soft=1",
        "cloudflare://zone id",
        "akamai://network",
        "https://api.fastly.com",
    ],
)
def test_malformed_urls_stop_start_up(url):
    with pytest.raises(ImproperlyConfigured, match="EDGE_PURGE_URL"):
        edgepurge.configure(url, environ=TOKENS, **API)


@pytest.mark.parametrize(
    "url, variable",
    [
        ("fastly://SU1Z0isx", "FASTLY_API_TOKEN"),
        ("cloudflare://023e105f4ecef8ad9ca31a8372d0c353", "CLOUDFLARE_API_TOKEN"),
    ],
)
def test_an_edge_without_its_token_stops_start_up(url, variable):
    others = {name: value for name, value in TOKENS.items() if name != variable}
    with pytest.raises(ImproperlyConfigured, match=f"{variable} is not set"):
        edgepurge.configure(url, environ={**others, variable: ""}, **API)
    with pytest.raises(ImproperlyConfigured, match=f"{variable} holds spaces") as caught:
        edgepurge.configure(url, environ={variable: "secret-token-9\n"}, **API)
    assert "secret-token-9" not in str(caught.value)


@pytest.mark.parametrize(
    "api, accepted",
    [
        ("https://api.fastly.com", True),
        ("https://api.fastly.com/", True),
        ("http://127.0.0.1:9000", True),
        ("http://[::1]:9000", True),
        ("http://localhost:9000", True),
        ("http://api.fastly.com", False),  # the token would travel in clear
        ("http://10.0.0.7:9000", False),
        ("ftp://api.fastly.com", False),
        ("https://user:pw@api.fastly.com", False),
        ("https://api.fastly.com?x=1", False),
        ("https://api.fastly.com:port", False),
        ("api.fastly.com", False),
    ],
)
def test_api_addresses_must_be_https_except_to_this_machine(api, accepted):
    def configure():
        return edgepurge.configure("fastly://SU1Z0isx", environ=TOKENS, **{**API, "fastly_api": api})

    if accepted:
        assert configure().api == api.rstrip("/")
    else:
        with pytest.raises(ImproperlyConfigured, match="FASTLY_API_URL"):
            configure()


@pytest.mark.parametrize("timeout", [0, -1, 61, "5"])
def test_the_timeout_must_be_a_few_seconds(timeout):
    with pytest.raises(ImproperlyConfigured, match="EDGE_PURGE_TIMEOUT"):
        edgepurge.configure("", timeout=timeout, **API)


@pytest.mark.parametrize(
    "environment, says",
    [
        ({"EDGE_PURGE_URL": "fastly://SU1Z0isx"}, "FASTLY_API_TOKEN is not set"),
        (
            {"EDGE_PURGE_URL": "cloudflare://023e105f4ecef8ad9ca31a8372d0c353"},
            "CLOUDFLARE_API_TOKEN is not set",
        ),
        ({"EDGE_PURGE_URL": "varnish://cache:port"}, "not host:port"),
        (
            {
                "EDGE_PURGE_URL": "fastly://SU1Z0isx",
                "FASTLY_API_TOKEN": "t0ken",
                "FASTLY_API_URL": "http://fake",
            },
            "must be an https:// address",
        ),
    ],
    ids=["fastly-token", "cloudflare-token", "varnish-address", "api-in-clear"],
)
def test_production_refuses_to_start_with_an_edge_it_cannot_purge(environment, says):
    # Empty values mask any token the developer's environment or .env may hold.
    result = manage(
        "check", **PRODUCTION_ENV, **{"FASTLY_API_TOKEN": "", "CLOUDFLARE_API_TOKEN": "", **environment}
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert says in result.stderr


def test_production_with_an_edge_and_its_token_passes_check_deploy_and_keeps_the_token_out_of_settings():
    token = "fastly-production-token-7f3a9c"
    environment = {
        "DJANGO_ALLOWED_HOSTS": "news.example.com",
        "EDGE_PURGE_URL": f"fastly://{FASTLY_SERVICE_ID}",
        "FASTLY_API_TOKEN": token,
    }
    result = check_deploy(**environment)
    assert result.returncode == 0, result.stdout + result.stderr
    script = (
        "from django.conf import settings as s; "
        "print(repr({name: getattr(s, name) for name in dir(s) if name.isupper()}))"
    )
    result = manage("shell", "-c", script, **PRODUCTION_ENV, CACHE_URL="locmemcache://", **environment)
    assert result.returncode == 0, result.stderr
    assert f"fastly://{FASTLY_SERVICE_ID}" in result.stdout
    assert token not in result.stdout
