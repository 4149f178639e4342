"""deploy/varnish/default.vcl, run by varnishd in front of the live test server (tests/support/varnish.py).

The pages behind it are declared by each test (tests/support/varnish_urls.py) with the headers the app
sends: surrogate keys, Cache-Control, cookies. Every test names pages of its own, so the one Varnish
of the run never carries one test's pages into another.
"""

import gzip
import http.client
import time

import pytest
from django.conf import settings
from pytest_django.live_server_helper import LiveServer

from tests.support.varnish import running_varnish
from tests.support.varnish_urls import BACKEND

# Documentation range (RFC 5737): never a purger.
OUTSIDER = "203.0.113.7"


@pytest.fixture(scope="session")
def app_server(django_db_setup):
    """The app on 127.0.0.1, as pytest-django's ``live_server`` runs it, but without that fixture: each
    test using it gets a transactional database, flushed after it (over a second a test on PostgreSQL),
    and these pages need no database. The one test that does asks for it."""
    server = LiveServer("127.0.0.1")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def varnish(app_server):
    """One varnishd for the run."""
    with running_varnish(app_server.thread.port) as server:
        yield server


@pytest.fixture(autouse=True)
def declared_pages(settings, django_db_blocker):
    """The declared pages read nothing from the database, but Django checks its connection at every
    request (close_old_connections): the server thread may, as without pytest-django's guard."""
    settings.ROOT_URLCONF = "tests.support.varnish_urls"
    with django_db_blocker.unblock():
        yield


def backend_get(app_server, path, **headers):
    """The same request straight to the app, for comparison."""
    connection = http.client.HTTPConnection("127.0.0.1", app_server.thread.port, timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def test_a_shareable_page_is_answered_from_the_cache_the_second_time(varnish):
    path = BACKEND.serve("kept", keys=["story-1"])
    first, second = varnish.get(path), varnish.get(path)
    head = varnish.request("HEAD", path)
    assert (first.status, second.status, head.status) == (200, 200, 200)
    assert (first.cache, second.cache, head.cache) == ("MISS", "HIT", "HIT")
    assert second.body == first.body and head.body == b""
    assert BACKEND.hits("kept") == 1


def test_surrogate_keys_never_reach_the_reader(varnish):
    path = BACKEND.serve("keyed", keys=["story-2", "section-3", "site"])
    answers = [varnish.get(path), varnish.get(path, **{"Accept-Encoding": "gzip"})]
    assert [answer.cache for answer in answers] == ["MISS", "HIT"]
    for answer in answers:
        for header in ("Surrogate-Key", "Cache-Tag", "xkey"):
            assert header not in answer.headers, header
        # Varnish's own part of the key (the scheme) is not shown either: the app's Vary as sent.
        assert answer.headers["Vary"] == "Accept-Encoding"


@pytest.mark.parametrize("accept_encoding", ["gzip, deflate, br", "identity", None])
def test_the_reader_gets_what_the_app_sent(varnish, app_server, accept_encoding):
    name = f"same-bytes-{(accept_encoding or 'none').split(',')[0]}"
    path = BACKEND.serve(name, keys=[name])
    headers = {"Accept-Encoding": accept_encoding} if accept_encoding else {}
    status, direct, body = backend_get(app_server, path, **headers)
    gzipped = direct.get("Content-Encoding") == "gzip"
    assert gzipped == (accept_encoding is not None and "gzip" in accept_encoding)
    for expected_cache in ("MISS", "HIT"):
        answer = varnish.request("GET", path, headers)
        assert answer.cache == expected_cache
        assert answer.status == status == 200
        # Django's gzip adds random bytes to every answer (against BREACH): the text is the same.
        if gzipped:
            assert gzip.decompress(answer.body) == gzip.decompress(body)
        else:
            assert answer.body == body
        for header in ("ETag", "Cache-Control", "Content-Type", "Content-Encoding", "Vary"):
            assert answer.headers.get(header) == direct.get(header), header


def test_one_copy_serves_readers_with_and_without_gzip(varnish):
    path = BACKEND.serve("both-encodings", keys=["both-encodings"])
    zipped = varnish.get(path, **{"Accept-Encoding": "gzip"})
    plain = varnish.get(path)
    assert (zipped.cache, plain.cache) == ("MISS", "HIT")
    assert gzip.decompress(zipped.body) == plain.body
    assert BACKEND.hits("both-encodings") == 1


def test_purging_a_key_removes_exactly_the_pages_that_carry_it(varnish):
    paths = {
        "story-a": BACKEND.serve("story-a", keys=["story-10", "list-home", "site"]),
        "story-b": BACKEND.serve("story-b", keys=["story-11", "list-home", "site"]),
        "story-c": BACKEND.serve("story-c", keys=["story-12", "site"]),
    }
    for path in paths.values():
        assert varnish.get(path).cache == "MISS"

    purged = varnish.purge(keys="story-10")
    assert purged.status == 200
    assert purged.headers["X-Purged"] == "1"
    assert purged.body == b"1 purged\n"
    assert {name: varnish.get(path).cache for name, path in paths.items()} == {
        "story-a": "MISS",
        "story-b": "HIT",
        "story-c": "HIT",
    }

    assert varnish.purge(keys="list-home").headers["X-Purged"] == "2"
    assert {name: varnish.get(path).cache for name, path in paths.items()} == {
        "story-a": "MISS",
        "story-b": "MISS",
        "story-c": "HIT",
    }


def test_a_purge_names_several_keys_and_says_how_many_pages_went(varnish):
    first = BACKEND.serve("several-1", keys=["story-20"])
    second = BACKEND.serve("several-2", keys=["story-21"])
    kept = BACKEND.serve("several-3", keys=["story-22"])
    for path in (first, second, kept):
        varnish.get(path)
    assert varnish.purge(keys="story-20 story-21").headers["X-Purged"] == "2"
    assert [varnish.get(path).cache for path in (first, second, kept)] == ["MISS", "MISS", "HIT"]
    # A key no page carries: nothing to do, and no error.
    nothing = varnish.purge(keys="story-999")
    assert (nothing.status, nothing.headers["X-Purged"]) == (200, "0")


def test_a_correction_is_visible_on_the_first_request_after_the_purge(varnish):
    """A hard purge: the old copy is gone, not kept for stale-while-revalidate."""
    path = BACKEND.serve("corrected", keys=["story-30"])
    assert b"version 1" in varnish.get(path).body
    BACKEND.edit("corrected")
    assert b"version 1" in varnish.get(path).body  # until the purge, the kept copy
    varnish.purge(keys="story-30")
    after = varnish.get(path)
    assert after.cache == "MISS"
    assert b"version 2" in after.body


def test_purging_an_address_removes_every_copy_of_it_and_nothing_else(varnish):
    path = BACKEND.serve("by-address", keys=["story-40"])
    other = BACKEND.serve("by-address-other", keys=["story-41"])
    varnish.get(path, **{"X-Forwarded-Proto": "https"})
    varnish.get(path)  # http: a second copy
    varnish.get(other)
    purged = varnish.purge(path)
    assert purged.status == 200
    assert purged.headers["X-Purged"] == "2"
    assert varnish.get(path, **{"X-Forwarded-Proto": "https"}).cache == "MISS"
    assert varnish.get(path).cache == "MISS"
    assert varnish.get(other).cache == "HIT"
    # An address with nothing kept.
    assert varnish.purge(f"{path}?page=2").headers["X-Purged"] == "0"


def test_a_purge_from_outside_the_acl_is_refused(varnish):
    path = BACKEND.serve("guarded", keys=["story-50"])
    varnish.get(path)
    for request in (("PURGE", "/", {"xkey-purge": "story-50"}), ("PURGE", path, {})):
        refused = varnish.from_address(OUTSIDER, *request)
        assert refused.status == 405
        assert "X-Purged" not in refused.headers
    assert varnish.get(path).cache == "HIT"
    # The same listener, from this machine: allowed (so the refusal above was the ACL's).
    allowed = varnish.from_address("127.0.0.1", "PURGE", "/", {"xkey-purge": "story-50"})
    assert (allowed.status, allowed.headers["X-Purged"]) == (200, "1")


def test_staff_pass_straight_through(varnish):
    path = BACKEND.serve("staff", keys=["story-60"])
    assert varnish.get(path).cache == "MISS"
    session = f"{settings.SESSION_COOKIE_NAME}=abc123"
    for cookie in (session, f"csrftoken=x; {session}"):
        answer = varnish.get(path, Cookie=cookie)
        assert answer.cache == "PASS"
    assert varnish.get(path, Authorization="Basic dXNlcjpwYXNz").cache == "PASS"
    seen = BACKEND.seen("staff")
    assert [request.cookie for request in seen] == [None, session, f"csrftoken=x; {session}", None]
    assert seen[-1].authorization == "Basic dXNlcjpwYXNz"
    # Readers still get the kept copy.
    assert varnish.get(path).cache == "HIT"


def test_other_cookies_do_not_stop_caching(varnish):
    path = BACKEND.serve("cookies", keys=["story-70"])
    # Well-formed CSRF cookies (Django replaces a malformed one: a Set-Cookie, so never kept).
    reader1, reader2 = f"csrftoken={'a' * 32}; _ga=GA1.1.1", f"csrftoken={'b' * 32}"
    answers = [varnish.get(path, Cookie=reader1), varnish.get(path, Cookie=reader2), varnish.get(path)]
    assert [answer.cache for answer in answers] == ["MISS", "HIT", "HIT"]
    # The miss reached the app with the reader's cookies, as they were.
    assert [request.cookie for request in BACKEND.seen("cookies")] == [reader1]


def test_forms_reach_the_app_with_their_cookies(varnish):
    path = BACKEND.serve("follow-form", keys=["story-80"])
    for _ in range(2):
        answer = varnish.request("POST", path, {"Cookie": "csrftoken=tok", "Content-Type": "text/plain"})
        assert answer.cache == "PASS"
    seen = BACKEND.seen("follow-form")
    assert [(request.method, request.cookie) for request in seen] == [("POST", "csrftoken=tok")] * 2
    # A POST never leaves a copy for GET.
    assert varnish.get(path).cache == "MISS"


def test_an_answer_that_sets_a_cookie_is_never_kept(varnish):
    path = BACKEND.serve("sets-cookie", keys=["story-90"], set_cookie=True)
    answers = [varnish.get(path) for _ in range(3)]
    assert [answer.cache for answer in answers] == ["PASS"] * 3
    assert all("visited=yes" in answer.headers["Set-Cookie"] for answer in answers)
    assert BACKEND.hits("sets-cookie") == 3


@pytest.mark.parametrize(
    ("name", "cache_control", "status"),
    [
        ("private", {"private": True}, 200),
        ("no-cache", {"no_cache": True, "s_maxage": 3600}, 200),
        ("no-store", {"no_store": True}, 200),
        ("public-private", "public, s-maxage=3600, private", 200),
        ("max-age-zero", {"public": True, "max_age": 0}, 200),
        # Nothing said: Varnish would guess a lifetime (default_ttl); the VCL keeps nothing unasked.
        ("unsaid", None, 200),
        ("unsaid-redirect", None, 301),
        ("unsaid-404", None, 404),
    ],
)
def test_what_the_app_does_not_let_shared_caches_keep_is_never_kept(varnish, name, cache_control, status):
    name = f"uncacheable-{name}"
    path = BACKEND.serve(name, keys=["story-100"], cache_control=cache_control, status=status)
    answers = [varnish.get(path) for _ in range(3)]
    assert [answer.status for answer in answers] == [status] * 3
    assert [answer.cache for answer in answers] == ["PASS"] * 3
    assert BACKEND.hits(name) == 3
    assert all("Surrogate-Key" not in answer.headers for answer in answers)


def test_a_page_that_turns_shareable_is_kept_from_then_on(varnish):
    """A no-cache answer (the app's stale copy while it remakes a page) does not stop the next one being
    kept."""
    path = BACKEND.serve("turns-shareable", keys=["story-110"], cache_control="no-cache")
    assert varnish.get(path).cache == "PASS"
    BACKEND.serve("turns-shareable", keys=["story-110"])
    assert [varnish.get(path).cache for _ in range(2)] == ["MISS", "HIT"]


def test_the_scheme_is_part_of_the_key(varnish):
    """As in the app's page cache: a plain-HTTP request still reaches the app (and its redirect to HTTPS)."""
    path = BACKEND.serve("scheme", keys=["story-120"])
    assert varnish.get(path, **{"X-Forwarded-Proto": "https"}).cache == "MISS"
    assert varnish.get(path, **{"X-Forwarded-Proto": "https, http"}).cache == "HIT"
    assert varnish.get(path, **{"X-Forwarded-Proto": "http"}).cache == "MISS"
    assert varnish.get(path).cache == "HIT"
    assert [request.forwarded_proto for request in BACKEND.seen("scheme")] == ["https", "http"]


def test_the_host_is_part_of_the_key(varnish):
    path = BACKEND.serve("hosts", keys=["story-130"])
    assert varnish.get(path, Host="localhost").cache == "MISS"
    assert varnish.get(path, Host="LOCALHOST").cache == "HIT"
    assert varnish.get(path, Host="127.0.0.1").cache == "MISS"


def test_tracking_parameters_share_the_page_without_them(varnish):
    path = BACKEND.serve("tracked", keys=["story-140"])
    assert varnish.get(path).cache == "MISS"
    for query in ("?utm_source=news&utm_medium=email", "?fbclid=abc", "?gclid=1&UTM_campaign=x"):
        assert varnish.get(f"{path}{query}").cache == "HIT", query
    # Other parameters are kept, in place, with the tracking ones dropped from between them.
    assert varnish.get(f"{path}?page=2&utm_source=x&q=chips").cache == "MISS"
    assert varnish.get(f"{path}?utm_source=y&page=2&q=chips&fbclid=z").cache == "HIT"
    # Not a tracking parameter, only like one.
    assert varnish.get(f"{path}?fbclidx=1").cache == "MISS"
    assert [request.path for request in BACKEND.seen("tracked")] == [
        path,
        f"{path}?page=2&q=chips",
        f"{path}?fbclidx=1",
    ]


def test_a_page_past_its_lifetime_is_answered_stale_while_it_is_fetched_again(varnish):
    """stale-while-revalidate is Varnish's grace: readers never wait for the app on a busy page."""
    lifetime = {"public": True, "max_age": 1, "s_maxage": 1, "stale_while_revalidate": 60}
    path = BACKEND.serve("grace", keys=["story-150"], cache_control=lifetime)
    assert varnish.get(path).cache == "MISS"
    BACKEND.edit("grace")
    time.sleep(1.2)
    stale = varnish.get(path)
    assert stale.cache == "STALE"
    assert b"version 1" in stale.body
    # Fetched again in the background: the next readers get the new page from the cache.
    deadline = time.monotonic() + 5
    fresh = varnish.get(path)
    while b"version 2" not in fresh.body and time.monotonic() < deadline:
        time.sleep(0.02)
        fresh = varnish.get(path)
    assert fresh.cache == "HIT"
    assert b"version 2" in fresh.body
    assert BACKEND.hits("grace") == 2


@pytest.mark.django_db(transaction=True)
def test_a_page_of_the_app_is_kept_as_its_page_cache_marks_it(varnish):
    """The real page cache's headers (conclave/pagecache.py), not only the test pages': robots.txt."""
    first, second = varnish.get("/robots.txt"), varnish.get("/robots.txt")
    assert first.status == 200
    assert "s-maxage" in first.headers["Cache-Control"]
    assert (first.cache, second.cache) == ("MISS", "HIT")
    assert second.body == first.body
    staff = varnish.get("/robots.txt", Cookie=f"{settings.SESSION_COOKIE_NAME}=nobody")
    assert staff.cache == "PASS"
