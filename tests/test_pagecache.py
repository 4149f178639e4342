"""The page cache for anonymous visitors: hits cost no query, every change is seen at once, staff and
per-visitor pages are never kept, and a broken cache only costs speed.

Tests run inside a transaction that never commits, so the purges (run on commit) are executed
explicitly with django_capture_on_commit_callbacks(execute=True), exactly where a real commit would be.
Which change purges which page is tested kind by kind in tests/test_cachekeys.py.
"""

import datetime
import gzip
import io
import logging
import os
import shutil
import socket
import subprocess
import time
from importlib import import_module

import pytest
from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.base import BaseCache
from django.core.checks import WARNING
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.test import Client
from django.urls import URLResolver, get_resolver, path
from django.utils import timezone
from django.views.decorators.cache import cache_control, never_cache

from articles import cachekeys, preview, views
from articles.models import Article, Author, Correction, Section, Tag
from conclave import checks, pagecache
from tests.factories import ArticleFactory


def is_hit(response):
    return response.get("X-Cache") == "hit"


def text(response):
    return response.content.decode()


def prime(client, *urls):
    """Request each page twice, as two visitors would: the second answer comes from the cache."""
    for url in urls:
        assert client.get(url).status_code == 200
        assert is_hit(client.get(url)), f"{url} was not cached"


# Hits


HIT_URLS = [
    "/",
    "/news/{slug}/",
    "/sections/chips/",
    "/authors/ada-reporter/",
    "/tags/",
    "/tags/semiconductors/",
    "/search/?q=live",
    "/feed/",
    "/feed/atom/",
    "/tags/semiconductors/feed/",
    "/sitemap.xml",
    "/sitemap-articles.xml",
    "/news-sitemap.xml",
    "/robots.txt",
]


@pytest.mark.parametrize("url", HIT_URLS)
def test_second_anonymous_request_is_a_hit_with_no_queries(client, newsroom, url, django_assert_num_queries):
    url = url.format(slug=newsroom[3][0].slug)
    first = client.get(url)
    assert first.status_code == 200
    assert first["X-Cache"] == "miss"
    with django_assert_num_queries(0):
        second = client.get(url)
    assert is_hit(second)
    assert second.status_code == 200
    assert second.content == first.content
    assert second["Content-Type"] == first["Content-Type"]
    assert second["X-Frame-Options"] == "DENY"  # headers the view and inner middleware set come back too


def test_head_is_answered_from_the_page_a_get_stored(client, newsroom, django_assert_num_queries):
    client.get("/")
    with django_assert_num_queries(0):
        response = client.head("/")
    assert response.status_code == 200 and is_hit(response)


def test_the_key_is_the_address_with_the_parameters_the_page_reads(client, newsroom):
    prime(client, "/search/?q=live")
    other_query = client.get("/search/?q=zzzz")
    assert not is_hit(other_query)
    assert other_query.content != client.get("/search/?q=live").content
    assert not is_hit(client.get("/search/?q=live", HTTP_HOST="localhost"))  # another host


def test_an_anonymous_visitor_with_a_session_cookie_is_served_from_the_cache(client, newsroom):
    prime(client, "/")
    client.cookies["sessionid"] = "no-such-session"
    assert is_hit(client.get("/"))


# Freshness: every change that can alter a public page


def edit_article(newsroom):
    article = newsroom[3][0]
    article.title = "A rewritten headline"
    article.save()
    return "/", "A rewritten headline"


def publish_draft(newsroom):
    draft = Article.objects.get(title="Draft story")
    draft.status = Article.Status.PUBLISHED
    draft.save()
    return "/", "Draft story"


def add_correction(newsroom):
    article = newsroom[3][0]
    Correction.objects.create(article=article, kind="update", note="The plant opens in May, not June.")
    return article.get_absolute_url(), "The plant opens in May, not June."


def rename_tag(newsroom):
    tag = Tag.objects.get(slug="semiconductors")
    tag.name = "Chipmaking"
    tag.save()
    return newsroom[3][0].get_absolute_url(), "Chipmaking"


def add_byline(newsroom):
    newsroom[3][0].authors.add(Author.objects.get(name="Bo Writer"))
    return newsroom[3][0].get_absolute_url(), "Bo Writer"


def rename_section(newsroom):
    section = Section.objects.get(slug="chips")
    section.name = "Silicon"
    section.save()
    return "/", "Silicon"


def add_section(newsroom):
    # No story in it yet: only the header's navigation, kept across publishes, shows it.
    Section.objects.create(name="Space", slug="space", position=9)
    return "/tags/", 'href="/sections/space/"'


def tag_a_story(newsroom):
    newsroom[3][0].tags.add(Tag.objects.get(slug="android"))
    return "/tags/android/", newsroom[3][0].title


@pytest.mark.parametrize(
    "change",
    [
        edit_article,
        publish_draft,
        add_correction,
        rename_tag,
        add_byline,
        rename_section,
        add_section,
        tag_a_story,
    ],
)
def test_a_change_shows_on_the_next_request(client, newsroom, change, django_capture_on_commit_callbacks):
    urls = ["/", "/tags/android/", *(f"/news/{a.slug}/" for a in newsroom[3])]
    prime(client, *urls)
    with django_capture_on_commit_callbacks(execute=True):
        url, expected = change(newsroom)
    response = client.get(url)
    assert not is_hit(response)
    assert expected in text(response)


@pytest.mark.parametrize("how", ["unpublish", "delete"])
def test_unpublished_or_deleted_stories_leave_every_page_at_once(
    client, newsroom, how, django_capture_on_commit_callbacks
):
    article = newsroom[3][0]
    urls = [article.get_absolute_url(), "/", "/tags/semiconductors/", "/feed/", "/sitemap-articles.xml"]
    prime(client, *urls)
    with django_capture_on_commit_callbacks(execute=True):
        if how == "unpublish":
            article.status = Article.Status.DRAFT
            article.save()
        else:
            article.delete()
    assert client.get(urls[0]).status_code == 404
    for url in urls[1:]:
        assert f"/news/{article.slug}/" not in text(client.get(url)), url


def test_pages_are_purged_after_the_commit_not_before(client, newsroom, django_capture_on_commit_callbacks):
    prime(client, "/")
    with django_capture_on_commit_callbacks() as callbacks:
        edit_article(newsroom)
        # Until the transaction commits, the old page is still the truth for other visitors.
        assert is_hit(client.get("/"))
    assert any(getattr(callback, "func", None) is cachekeys.purge_everywhere for callback in callbacks)
    for callback in callbacks:
        callback()
    assert "A rewritten headline" in text(client.get("/"))


def test_a_lost_key_version_never_brings_back_older_pages(client, newsroom):
    prime(client, "/")
    pagecache.purge(["list-home"])
    cache.delete(pagecache._version_key("list-home"))  # evicted, say
    assert not is_hit(client.get("/"))
    assert is_hit(client.get("/"))


def test_a_lost_key_version_is_read_as_a_purge_when_the_page_is_checked(client, newsroom):
    prime(client, "/")
    cache.delete(pagecache._version_key("list-home"))  # evicted, say
    # Nothing was purged since the page was made: it is served without reading a version...
    assert is_hit(client.get("/"))
    # ...and checked as soon as anything is purged, the lost version then counting as changed.
    pagecache.purge(["tag-unrelated"])
    assert not is_hit(client.get("/"))
    assert is_hit(client.get("/"))


@pytest.fixture
def cache_reads(monkeypatch):
    """The reads the page cache makes of the cache server, one list of keys per round trip."""
    backend = caches["default"]
    reads, depth = [], []

    def counted(real):
        def read(key_or_keys, *args, **kwargs):
            if not depth:
                reads.append([key_or_keys] if isinstance(key_or_keys, str) else list(key_or_keys))
            depth.append(1)  # get_many may call get: one round trip all the same
            try:
                return real(key_or_keys, *args, **kwargs)
            finally:
                depth.pop()

        return read

    monkeypatch.setattr(backend, "get", counted(backend.get))
    monkeypatch.setattr(backend, "get_many", counted(backend.get_many))
    return reads


def test_a_hit_reads_the_page_its_mark_and_the_sequence_in_one_round_trip(client, newsroom, cache_reads):
    prime(client, "/")
    cache_reads.clear()
    assert is_hit(client.get("/"))
    key = pagecache._page_key("http://testserver/")
    assert cache_reads == [[key, pagecache._checked_key(key), pagecache.SEQUENCE_KEY]]


def test_after_an_unrelated_purge_a_hit_checks_the_versions_once(client, newsroom, cache_reads):
    prime(client, "/")
    pagecache.purge(["tag-unrelated"])
    cache_reads.clear()
    assert is_hit(client.get("/"))
    assert len(cache_reads) == 2  # the page, then its keys' versions
    assert pagecache._version_key("list-home") in cache_reads[1]
    cache_reads.clear()
    for _ in range(3):
        assert is_hit(client.get("/"))
    assert len(cache_reads) == 3  # marked current at this sequence: one round trip each


def test_a_page_made_again_reads_each_keys_version_once(client, newsroom, cache_reads):
    _section, _author, _tag, live = newsroom
    url = live[0].get_absolute_url()
    prime(client, url)  # its parts (story, related box, header, footer) kept, each with its keys
    cache.delete(pagecache._page_key(f"http://testserver{url}"))
    cache_reads.clear()
    assert client.get(url)["X-Cache"] == "miss"
    versions_read = [key for keys in cache_reads for key in keys if key.startswith("pagecache:key:")]
    assert pagecache._version_key(cachekeys.story(live[0].pk)) in versions_read
    assert sorted(versions_read) == sorted(set(versions_read))
    assert is_hit(client.get(url))


def test_a_purge_of_a_key_read_while_the_page_was_made_makes_that_page_stale(
    client, newsroom, monkeypatch, django_capture_on_commit_callbacks
):
    """The versions read early in the making are the page's snapshot: a purge after them must still
    reach the next reader."""
    prime(client, "/")
    cache.delete(pagecache._page_key("http://testserver/"))
    trending_topics = views.trending_topics

    def topics_then_a_publish():
        box = trending_topics()  # reads its keys' versions, the home listing's among them
        publish_the_draft(django_capture_on_commit_callbacks)
        return box

    monkeypatch.setattr(views, "trending_topics", topics_then_a_publish)
    made = client.get("/")
    assert made["X-Cache"] == "miss" and "Draft story" not in text(made)  # listed before the publish
    monkeypatch.setattr(views, "trending_topics", trending_topics)
    after = client.get("/")
    assert not is_hit(after) and "Draft story" in text(after)


def test_a_purge_of_a_key_of_a_page_marked_current_makes_it_stale(client, newsroom):
    prime(client, "/")
    pagecache.purge(["tag-unrelated"])
    assert is_hit(client.get("/"))  # checked, and marked current
    assert is_hit(client.get("/"))  # by the mark
    pagecache.purge(["list-home"])
    assert not is_hit(client.get("/"))
    assert is_hit(client.get("/"))


def test_a_check_racing_a_purge_never_leaves_a_stale_page_marked_current(client, newsroom, monkeypatch):
    prime(client, "/")
    pagecache.purge(["tag-unrelated"])  # so that the next hit checks the versions, and marks the page
    backend = caches["default"]
    write_versions = backend.set_many
    during = []

    def hit_then_write(data, *args, **kwargs):
        # Between the purge's first number and its version writes: the page is checked at that number,
        # against versions the purge has not written yet, and marked current.
        if not during and pagecache._version_key("list-home") in data:
            during.append(client.get("/"))
        return write_versions(data, *args, **kwargs)

    monkeypatch.setattr(backend, "set_many", hit_then_write)
    sequence = pagecache.purge(["list-home"])
    key = pagecache._page_key("http://testserver/")
    assert is_hit(during[0]) and cache.get(pagecache._checked_key(key))[0] == sequence
    assert not is_hit(client.get("/"))  # the purge moved on past the mark once its versions were written
    assert is_hit(client.get("/"))


SAME_EVERY_TIME_BUT = {"Age", "X-Request-ID", "Date"}


@pytest.mark.parametrize("method", ["get", "head"])
@pytest.mark.parametrize("url", ["/", "/news/{slug}/", "/tags/semiconductors/", "/feed/", "/search/?q=live"])
def test_a_hit_without_a_session_is_the_answer_a_reader_with_one_gets(client, newsroom, url, method):
    url = url.format(slug=newsroom[3][0].slug)
    prime(client, url)
    with_session = Client()
    with_session.cookies["sessionid"] = real_session(theme="dark")  # an anonymous reader's session
    for extra in ({}, {"HTTP_ACCEPT_ENCODING": "gzip"}):
        early = getattr(client, method)(url, **extra)
        late = getattr(with_session, method)(url, **extra)
        # Answered before the session middleware ran, and after it:
        assert not hasattr(early.wsgi_request, "session") and hasattr(late.wsgi_request, "session")
        assert is_hit(early) and is_hit(late)
        assert early.status_code == late.status_code == 200
        assert early.content == late.content
        assert not early.cookies and not late.cookies

        def headers(response):
            return {name: value for name, value in response.items() if name not in SAME_EVERY_TIME_BUT}

        assert headers(early) == headers(late), url


def test_a_conditional_hit_without_a_session_is_the_304_a_reader_with_one_gets(client, newsroom):
    prime(client, "/")
    etag = client.get("/")["ETag"]
    with_session = Client()
    with_session.cookies["sessionid"] = real_session(theme="dark")
    early, late = client.get("/", HTTP_IF_NONE_MATCH=etag), with_session.get("/", HTTP_IF_NONE_MATCH=etag)
    assert early.status_code == late.status_code == 304
    assert not hasattr(early.wsgi_request, "session")
    assert {n: v for n, v in early.items() if n not in SAME_EVERY_TIME_BUT} == {
        n: v for n, v in late.items() if n not in SAME_EVERY_TIME_BUT
    }


def test_what_the_early_look_up_read_is_not_read_again(client, newsroom, cache_reads):
    key = pagecache._page_key("http://testserver/")
    client.get("/")  # a miss: the page is read once
    assert sum(key in keys for keys in cache_reads) == 1
    pagecache.purge(["list-home"])
    cache_reads.clear()
    response = client.get("/")  # stale: read once, then again only after taking the rebuild lock
    assert response["X-Cache"] == "miss"
    assert sum(key in keys for keys in cache_reads) == 2


def test_a_mark_names_the_page_it_was_found_current_for(db):
    key = pagecache._page_key("http://testserver/marked/")
    now = timezone.now()
    until = now + datetime.timedelta(minutes=5)
    sequence = pagecache._sequence()
    pagecache.purge(["shown"])
    snapshot = (("shown", cache.get(pagecache._version_key("shown"))[0]),)
    cache.set(key, pagecache.Kept(sequence, snapshot, until, {"page": "current"}, b"first"))
    lookup = pagecache._look_up(key, now)
    assert lookup.page == {"page": "current"} and lookup.versions is not None  # checked, then marked
    assert pagecache._look_up(key, now).versions is None  # current by its mark
    # Another page kept at the same address since, made before that purge: the mark is not its.
    cache.set(key, pagecache.Kept(sequence, (("shown", sequence),), until, {"page": "stale"}, b"second"))
    assert pagecache._look_up(key, now).page is None


def test_a_lost_sequence_starts_above_every_version_it_gave(client, newsroom):
    before = pagecache.purge(["list-home"])
    cache.delete(pagecache.SEQUENCE_KEY)  # evicted, say
    prime(client, "/")
    assert pagecache.purge(["list-home"]) > before
    assert not is_hit(client.get("/"))


@pytest.fixture
def server_clock_stopped(monkeypatch):
    """A cache server whose clock does not move with ours (Redis under time_machine): it keeps every
    entry for a day, whatever it is asked, so only the entries' own "valid until" time can expire them."""
    monkeypatch.setattr(pagecache, "_timeout", lambda delta: 24 * 3600)


def test_pages_are_kept_page_cache_seconds_by_the_sites_clock(
    client, newsroom, time_machine, settings, server_clock_stopped
):
    settings.PAGE_CACHE_SECONDS = 300
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    client.get("/")
    time_machine.move_to(start + datetime.timedelta(seconds=299), tick=False)
    response = client.get("/")
    assert is_hit(response) and response["Age"] == "299"
    # Redis would still hold the entry (its own clock has hardly moved): the entry's time decides.
    time_machine.move_to(start + datetime.timedelta(seconds=301), tick=False)
    assert not is_hit(client.get("/"))


def test_page_cache_seconds_zero_turns_the_cache_off(client, newsroom, settings):
    settings.PAGE_CACHE_SECONDS = 0
    client.get("/")
    response = client.get("/")
    assert response.status_code == 200 and "X-Cache" not in response


# Staff, previews and per-visitor pages are never kept


def test_staff_never_get_a_cached_page(editor_client, newsroom):
    prime(Client(), "/")
    response = editor_client.get("/")
    assert response.status_code == 200
    assert "X-Cache" not in response
    assert response.context is not None  # rendered for them, by the view


def test_anonymous_visitors_never_get_a_page_rendered_for_staff(editor_client, newsroom):
    draft = Article.objects.get(title="Draft story")
    live = newsroom[3][0]
    for url in (draft.get_absolute_url(), live.get_absolute_url(), "/"):
        assert editor_client.get(url).status_code == 200
    assert "Draft preview" in text(editor_client.get(draft.get_absolute_url()))
    anonymous = Client()
    assert anonymous.get(draft.get_absolute_url()).status_code == 404
    for url in (live.get_absolute_url(), "/"):
        response = anonymous.get(url)
        assert response["X-Cache"] == "miss"  # what staff were shown was not kept
        assert "Draft preview" not in text(response)


def test_draft_preview_links_are_never_stored(client, newsroom):
    draft = Article.objects.get(title="Draft story")
    url = f"{draft.get_absolute_url()}?preview={preview.make_token(draft)}"
    for _ in range(2):
        response = client.get(url)
        assert response.status_code == 200
        assert "Draft preview" in text(response)
        assert "X-Cache" not in response  # a preview link is one visitor's: the cache stays out of it
    assert client.get(draft.get_absolute_url()).status_code == 404


def test_follow_and_admin_pages_bypass_the_cache(client, newsroom):
    for url in ["/tags/semiconductors/follow/", "/follow/manage/bad-token/", "/admin/login/", "/healthz"]:
        client.get(url)
        assert "X-Cache" not in client.get(url), url


# What the cache may keep, on views made for the purpose


def plain(request):
    return HttpResponse("plain")


@never_cache
def uncacheable(request):
    return HttpResponse("draft")


@cache_control(private=True)
def private(request):
    return HttpResponse("yours")


def with_cookie(request):
    response = HttpResponse("cookie")
    response.set_cookie("seen", "1")
    return response


def with_csrf_token(request):
    return HttpResponse(f"<input value='{get_token(request)}'>")


def with_session(request):
    request.session["visited"] = True
    return HttpResponse("session")


def varies_on_cookie(request):
    response = HttpResponse("varies")
    response["Vary"] = "Cookie"
    return response


def not_found(request):
    return HttpResponse("gone", status=404)


def redirect(request):
    return HttpResponse(status=302, headers={"Location": "/plain/"})


@cache_control(max_age=0)
def stale_at_once(request):
    return HttpResponse("max-age 0")


def reads_session(request):
    return HttpResponse(f"seen before: {request.session.get('seen', False)}")


TEST_VIEWS = [
    plain,
    uncacheable,
    private,
    with_cookie,
    with_csrf_token,
    with_session,
    varies_on_cookie,
    not_found,
    redirect,
    stale_at_once,
    reads_session,
]
urlpatterns = [path(f"{view.__name__}/", view, name=view.__name__) for view in TEST_VIEWS]


@pytest.fixture
def test_views(monkeypatch):
    """This module's views as pages of their own (pytest.mark.urls), each cacheable, reading nothing."""
    for view in TEST_VIEWS:
        monkeypatch.setitem(pagecache.PAGE_QUERIES, view.__name__, pagecache.Query())


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(
    "url",
    [
        "/uncacheable/",
        "/private/",
        "/with_cookie/",
        "/with_csrf_token/",
        "/with_session/",
        "/varies_on_cookie/",
        "/not_found/",
        "/redirect/",
        "/stale_at_once/",
    ],
)
def test_responses_made_for_one_visitor_or_not_ok_are_never_stored(client, db, url, test_views):
    client.get("/plain/")
    assert is_hit(client.get("/plain/"))  # the control: a plain page is kept
    client.get(url)
    assert not is_hit(client.get(url))


# A broken cache costs speed, never a page


class BrokenCache(BaseCache):
    """A cache server that is down: every call fails, as redis-py's would."""

    def __init__(self, location, params):
        super().__init__(params)

    def _fail(self, *args, **kwargs):
        raise ConnectionError("cache unavailable")

    add = get = set = touch = delete = incr = get_many = set_many = delete_many = has_key = _fail

    def clear(self):
        pass


def test_a_broken_cache_still_serves_every_page(client, newsroom, settings, caplog):
    settings.CACHES = {"default": {"BACKEND": f"{__name__}.BrokenCache"}}
    caplog.set_level(logging.WARNING, logger="conclave.pagecache")
    for url in ["/", f"/news/{newsroom[3][0].slug}/", "/tags/semiconductors/", "/feed/", "/news-sitemap.xml"]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert "X-Cache" not in response
    assert "Page cache unavailable" in caplog.text
    article = newsroom[3][0]
    article.title = "Saved while the cache is down"
    article.save()
    assert pagecache.purge(["list-home"]) is None  # logged, not raised: the editor's save stands
    assert "Saved while the cache is down" in text(client.get("/"))


def test_a_broken_cache_is_reported_once_a_minute_not_per_request(
    client, newsroom, settings, caplog, monkeypatch
):
    settings.CACHES = {"default": {"BACKEND": f"{__name__}.BrokenCache"}}
    now = [1000.0]
    monkeypatch.setattr(pagecache.failure_log, "clock", lambda: now[0])
    caplog.set_level(logging.WARNING, logger="conclave.pagecache")

    def reports():
        return [
            r.getMessage()
            for r in caplog.records
            if r.getMessage().startswith("Page cache unavailable, serving")
        ]

    for _ in range(5):
        assert client.get("/tags/").status_code == 200
    assert len(reports()) == 1
    now[0] += 59
    client.get("/tags/")
    assert len(reports()) == 1
    now[0] += 2
    assert client.get("/").status_code == 200
    assert len(reports()) == 2
    assert reports()[1].endswith("(5 more like it since the last report)")


def test_a_cache_failing_on_write_still_serves_the_page(client, newsroom, monkeypatch, caplog):
    def fail(*args, **kwargs):
        raise ConnectionError("cache unavailable")

    monkeypatch.setattr(type(caches["default"]), "set", fail)
    caplog.set_level(logging.WARNING, logger="conclave.pagecache")
    assert client.get("/").status_code == 200
    assert client.get("/").status_code == 200
    assert "not stored" in caplog.text


def test_a_page_from_the_cache_is_the_page_the_view_made(client, newsroom):
    """Same bytes, same headers (but those naming the answer itself) as the view's own answer."""
    url = f"/news/{newsroom[3][0].slug}/"
    fresh = client.get(url)
    cached = client.get(url)
    assert is_hit(cached)
    assert fresh.content == cached.content
    per_answer = {"X-Cache", "X-Request-ID"}
    headers = {k: v for k, v in fresh.items() if k not in per_answer}
    assert {k: v for k, v in cached.items() if k not in per_answer} == headers
    assert cached["Age"] == "0"


# What browsers and CDNs are told


def cache_control(response):
    directives = {}
    for part in response.get("Cache-Control", "").split(","):
        name, _, value = part.strip().partition("=")
        directives[name] = value
    return directives


def test_kept_pages_tell_browsers_and_cdns_how_long_to_keep_them(client, newsroom, settings):
    settings.PAGE_CACHE_SECONDS = 300
    for response in (client.get("/"), client.get("/")):
        directives = cache_control(response)
        assert "public" in directives
        assert directives["max-age"] == str(pagecache.BROWSER_SECONDS)
        assert directives["s-maxage"] == "300"
        assert directives["stale-while-revalidate"] == str(pagecache.STALE_SECONDS)
        assert response["ETag"].startswith('W/"') and response["Last-Modified"]


def test_no_one_keeps_a_page_past_the_next_scheduled_story(client, newsroom, time_machine):
    """The newsroom's scheduled story goes live in an hour: 40 s before that, nobody may keep a page
    for longer than 40 s, or it would miss the story."""
    future = Article.objects.get(title="Future story")
    time_machine.move_to(future.published_at - datetime.timedelta(seconds=40), tick=False)
    directives = cache_control(client.get("/"))
    assert directives["s-maxage"] == "40" and directives["max-age"] == "40"


def test_a_matching_if_none_match_gets_a_304_and_a_changed_page_does_not(
    client, newsroom, django_capture_on_commit_callbacks
):
    first = client.get("/")
    etag = first["ETag"]
    for outcome in ("hit", "hit"):
        response = client.get("/", headers={"If-None-Match": etag})
        assert response.status_code == 304 and response.content == b""
        assert response["ETag"] == etag and response["X-Cache"] == outcome
    assert client.get("/", headers={"If-None-Match": 'W/"something-else"'}).status_code == 200
    story = Article.objects.get(title="Live story 0")
    story.title = "A retitled story"
    with django_capture_on_commit_callbacks(execute=True):
        story.save()
    changed = client.get("/", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and "A retitled story" in text(changed)
    # A save that changes nothing on the page gives the same page, so the same tag still matches.
    with django_capture_on_commit_callbacks(execute=True):
        story.save()
    assert client.get("/", headers={"If-None-Match": changed["ETag"]}).status_code == 304


def test_a_miss_answers_a_conditional_request_too(client, newsroom):
    made = client.get("/tags/")
    cache.clear()  # evicted: the next request makes the page again, byte for byte
    response = client.get("/tags/", headers={"If-None-Match": made["ETag"]})
    assert response.status_code == 304 and response["X-Cache"] == "miss"


def test_if_modified_since_gets_a_304_until_the_page_is_made_again(client, newsroom):
    made = client.get("/")
    response = client.get("/", headers={"If-Modified-Since": made["Last-Modified"]})
    assert response.status_code == 304


def test_a_failed_precondition_on_a_hit_is_a_412(client, newsroom):
    client.get("/")
    assert client.get("/", headers={"If-Match": "*"}).status_code == 200
    assert client.get("/", headers={"If-Match": 'W/"something-else"'}).status_code == 412
    long_ago = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert client.get("/", headers={"If-Unmodified-Since": long_ago}).status_code == 412
    assert client.get("/", headers={"If-None-Match": ""}).status_code == 200  # empty: not conditional


def test_pages_are_kept_gzipped_and_sent_as_each_browser_asks(client, newsroom):
    plain = client.get("/")
    assert "Content-Encoding" not in plain
    assert "Accept-Encoding" in plain["Vary"]
    for accept in ("gzip, deflate, br", "br;q=1.0, gzip;q=0.8"):
        zipped = client.get("/", headers={"Accept-Encoding": accept})
        assert zipped["Content-Encoding"] == "gzip"
        assert gzip.decompress(zipped.content) == plain.content
        assert int(zipped["Content-Length"]) == len(zipped.content) < len(plain.content) / 2
        assert zipped["ETag"] == plain["ETag"]
    refused = client.get("/", headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in refused and refused.content == plain.content


def test_pages_not_kept_are_compressed_on_the_way_out_and_kept_ones_only_once(editor_client, newsroom):
    staff_page = editor_client.get("/", headers={"Accept-Encoding": "gzip"})
    assert "X-Cache" not in staff_page and staff_page["Content-Encoding"] == "gzip"
    assert b"<!doctype html>" in gzip.decompress(staff_page.content)
    refused = editor_client.get("/", headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in refused
    for outcome in ("miss", "hit"):
        kept = Client().get("/", headers={"Accept-Encoding": "gzip"})
        assert kept["X-Cache"] == outcome
        assert gzip.decompress(kept.content).startswith(b"<!doctype html>")


def test_vary_names_only_what_changes_the_answer(client, newsroom):
    # robots.txt is too small to gzip: the same bytes for everyone, so nothing to vary on.
    client.get("/robots.txt")
    assert "Vary" not in client.get("/robots.txt")
    # Listings are the same for staff and visitors: only the encoding varies.
    for url in ("/", "/tags/semiconductors/", "/search/?q=live"):
        assert client.get(url)["Vary"] == "Accept-Encoding", url


def test_head_says_how_long_the_page_is_without_sending_it(client, newsroom):
    page = client.get("/")
    head = client.head("/")
    assert head["X-Cache"] == "hit"
    assert head.content == b"" and head["Content-Length"] == str(len(page.content))


def test_pages_made_for_someone_logged_in_are_private(editor_client, newsroom):
    live = newsroom[3][0]
    for url in ("/", live.get_absolute_url()):
        directives = cache_control(editor_client.get(url))
        assert "private" in directives and "public" not in directives, url
        assert "s-maxage" not in directives


# A real Redis server that stops


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def redis_server(tmp_path):
    """Starts Redis servers of this test's own on free ports, with the options given: (url, process)."""
    binary = shutil.which("redis-server")
    if binary is None:
        # CI's machine runs Redis: there a missing server is a broken machine, not a reason to skip.
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed: the Redis start-up check cannot be tested")
        pytest.skip("redis-server is not installed on this machine (apt-get install redis-server)")
    started = []

    def start(*options):
        port = free_port()
        server = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                *options,
            ],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
        )
        started.append(server)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.05)
        return f"redis://127.0.0.1:{port}/0", server

    yield start
    for server in started:
        server.kill()
        server.wait()


def redis_cache(url):
    return {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}


@pytest.fixture
def own_redis(settings, redis_server):
    """A Redis server of this test's own, on a free port, that the test may stop."""
    url, server = redis_server()
    settings.CACHES = redis_cache(url)
    return server


def test_with_redis_stopped_every_page_is_still_served(
    client, newsroom, own_redis, caplog, django_capture_on_commit_callbacks
):
    urls = ["/", f"/news/{newsroom[3][0].slug}/", "/tags/semiconductors/", "/search/?q=live", "/feed/"]
    prime(client, *urls)
    own_redis.terminate()
    own_redis.wait(timeout=10)
    caplog.set_level(logging.WARNING, logger="conclave.pagecache")
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        assert "X-Cache" not in response
    assert "Page cache unavailable" in caplog.text
    # An editor's save still goes through; the page shows it at once.
    with django_capture_on_commit_callbacks(execute=True):
        Article.objects.filter(title="Live story 0").update(title="Saved with Redis down")
        Article.objects.get(title="Saved with Redis down").save()
    assert "Saved with Redis down" in text(client.get("/"))


def test_a_real_redis_keeps_pages_and_forgets_them_on_publish(
    client, newsroom, own_redis, django_capture_on_commit_callbacks
):
    prime(client, "/", "/tags/semiconductors/")
    draft = Article.objects.get(title="Draft story")
    draft.status = Article.Status.PUBLISHED
    draft.published_at = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        draft.save()
    for url in ("/", "/tags/semiconductors/"):
        response = client.get(url)
        assert response["X-Cache"] == "miss" and "Draft story" in text(response), url
        assert is_hit(client.get(url))


@pytest.mark.skipif(
    not os.environ.get("CACHE_URL", "").startswith("redis://"),
    reason="checks the Redis run of .ci/run (CACHE_URL=redis://...); the other run uses a local-memory cache",
)
def test_the_redis_run_keeps_pages_in_redis_itself(client, newsroom):
    import redis

    prime(client, "/", "/tags/semiconductors/")
    server = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    kept = list(server.scan_iter(match="*pagecache:page:*"))
    assert len(kept) >= 2


# Query strings: the key holds only the parameters each page reads (issue 15, finding 7)


JUNK_PARAMETERS = [
    "utm_source=newsletter",
    "utm_source=x1&utm_medium=email&utm_campaign=launch",
    "fbclid=IwAR0abc",
    "gclid=EAIaIQobChMI",
    "anything=at-all&x=1",
    "",  # an empty query string too
]


@pytest.mark.parametrize("url", ["/", "/news/{slug}/", "/tags/semiconductors/", "/feed/", "/search/?q=live"])
def test_parameters_a_page_does_not_read_make_no_entry_of_their_own(client, newsroom, url):
    url = url.format(slug=newsroom[3][0].slug)
    made = client.get(url)
    joiner = "&" if "?" in url else "?"
    for junk in JUNK_PARAMETERS:
        response = client.get(f"{url}{joiner}{junk}")
        assert is_hit(response), junk  # no render, no entry: the page the clean address keeps
        assert response.content == made.content


def test_the_view_sees_only_the_parameters_the_key_holds(client, newsroom):
    """Pagination links repeat the query string ({% querystring %}): a page made for a tagged visit must
    not hand its tracking tags to every later reader of the same key."""
    ArticleFactory.create_batch(25, section=newsroom[0], tags=[newsroom[2]])
    made = client.get("/?utm_source=newsletter&fbclid=abc&page=1")
    assert made.status_code == 200
    assert 'href="?page=2"' in text(made)
    assert "utm_source" not in text(made) and "fbclid" not in text(made)
    later = client.get("/")
    assert is_hit(later) and later.content == made.content
    second = client.get("/tags/semiconductors/?gclid=1&page=2")
    assert second.status_code == 200 and "gclid" not in text(second)
    assert 'href="?page=2"' not in text(second)  # its own links: "newer" is page 1, the tag's address
    assert is_hit(client.get("/tags/semiconductors/?page=2"))


def test_the_parameters_a_page_reads_make_one_key_whatever_their_order_or_spelling(client, newsroom):
    made = client.get("/search/?q=live")
    for variant in [
        "/search/?page=1&q=live",  # another order; page 1 is the page with no number
        "/search/?q=live&page=01",
        "/search/?q=live&page=",
        "/search/?q=other&q=live",  # the last value is the one the view reads
        "/search/?utm_campaign=x&q=live",
    ]:
        response = client.get(variant)
        assert is_hit(response), variant
        assert response.content == made.content
    assert not is_hit(client.get("/search/?q=chips"))  # what the page reads still makes its own key


def test_every_public_url_pattern_says_what_its_page_reads():
    """A pattern missing from PAGE_QUERIES is never cached (safe, but slow): add it, with the
    parameters its view reads, or None to keep it out of the cache on purpose."""

    def walk(patterns, namespace=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace == "admin":
                    continue  # for staff: never cached
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                yield from walk(pattern.url_patterns, inner)
            else:
                yield pattern, f"{namespace}{pattern.name}" if pattern.name else None

    named, unnamed = set(), set()
    for pattern, name in walk(get_resolver().url_patterns):
        (named.add(name) if name else unnamed.add(pattern.callback.__name__))
    assert named - pagecache.PAGE_QUERIES.keys() == set(), "cacheable pages missing from PAGE_QUERIES"
    assert pagecache.PAGE_QUERIES.keys() - named == set(), "PAGE_QUERIES names pages that do not exist"
    assert unnamed == {"favicon"}  # a redirect, never kept: without a name it cannot be in the table


def test_each_path_is_resolved_once_until_the_urlconf_changes(settings):
    pagecache._view_name.cache_clear()
    assert pagecache._view_name("/plain/", None) is None
    assert pagecache._view_name("/tags/", None) == "articles:tags"
    assert pagecache._view_name("/tags/", None) == "articles:tags"
    assert pagecache._view_name.cache_info().hits == 1
    settings.ROOT_URLCONF = __name__
    assert pagecache._view_name("/plain/", None) == "plain"
    assert pagecache._view_name("/tags/", None) is None


def test_a_page_missing_from_the_table_is_never_cached(client, newsroom, monkeypatch):
    monkeypatch.delitem(pagecache.PAGE_QUERIES, "articles:tags")
    for _ in range(2):
        response = client.get("/tags/?utm_source=x")
        assert response.status_code == 200 and "X-Cache" not in response


def test_a_preview_token_never_makes_an_entry(client, newsroom):
    article = newsroom[3][0]
    for token in ("made-up-1", "made-up-2"):
        response = client.get(f"{article.get_absolute_url()}?preview={token}")
        assert response.status_code == 200 and "X-Cache" not in response
    prime(client, "/")
    assert is_hit(client.get("/?preview=made-up"))  # a page that reads no preview ignores it


# Redis must be told to evict: checked at start-up


def test_a_redis_that_evicts_passes_the_start_up_check(settings, redis_server):
    url, _ = redis_server("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")
    settings.CACHES = redis_cache(url)
    assert checks.redis_evicts(None) == []


@pytest.mark.parametrize(
    ("options", "ids"),
    [
        (["--maxmemory", "64mb", "--maxmemory-policy", "noeviction"], ["conclave.W001"]),
        (["--maxmemory", "64mb", "--maxmemory-policy", "volatile-lru"], ["conclave.W001"]),
        (["--maxmemory-policy", "allkeys-lru"], ["conclave.W002"]),
        ([], ["conclave.W001", "conclave.W002"]),  # Redis's defaults
        (["--rename-command", "CONFIG", ""], ["conclave.W003"]),  # as managed services do
    ],
)
def test_a_redis_that_does_not_evict_is_a_start_up_warning(settings, redis_server, options, ids):
    url, _ = redis_server(*options)
    settings.CACHES = redis_cache(url)
    found = checks.redis_evicts(None)
    assert [warning.id for warning in found] == ids
    assert all(warning.level == WARNING for warning in found)  # the site still starts


def test_an_unreachable_redis_is_a_warning_at_start_up(settings):
    settings.CACHES = redis_cache(f"redis://:secret@127.0.0.1:{free_port()}/0")
    [warning] = checks.redis_evicts(None)
    assert warning.id == "conclave.W003" and warning.level == WARNING
    assert "secret" not in warning.msg


def test_other_caches_are_not_checked(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert checks.redis_evicts(None) == []


# Accept-Encoding, parsed as RFC 9110 says (issue 15, finding 11)


@pytest.mark.parametrize(
    ("header", "gzip_sent"),
    [
        ("gzip", True),
        ("GZIP", True),
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("x-gzip", True),
        ("*", True),
        ("gzip;level=1", True),
        ("gzip;q=0.5, identity;q=0.1", True),
        ("gzip;q=0", False),
        ("gzip;Q=0", False),
        ("gzip; q=0.000", False),
        ("gzip ;q=0, identity", False),
        ("GZIP;Q=0.0", False),
        ("*;q=0", False),
        ("gzip;q=0, *", False),  # named: the wildcard does not override it
        ("*, gzip;q=0", False),
        ("gzip, gzip;q=0", False),  # named twice: the refusal wins
        ("identity;q=1, gzip;q=0.5", False),  # identity preferred
        ("deflate, br", False),
        ("identity", False),
        ("", False),
        ("gzip;q=abc", False),  # a malformed weight: as if not named
        ("gzip;q=1.5", False),
        ("gzipped", False),
    ],
)
def test_accept_encoding_is_parsed_with_its_weights(header, gzip_sent):
    assert pagecache.accepts_gzip(header) is gzip_sent


@pytest.mark.parametrize("header", ["gzip;Q=0", "GZIP;q=0.0, identity", "*;q=0", "deflate"])
def test_a_refused_gzip_is_never_sent_kept_pages_or_not(client, editor, newsroom, header):
    prime(client, "/")
    staff = Client()
    staff.force_login(editor)
    for response in (
        client.get("/", headers={"Accept-Encoding": header}),
        staff.get("/", headers={"Accept-Encoding": header}),
    ):
        assert "Content-Encoding" not in response
        assert response.content.startswith(b"<!doctype html>")


@pytest.mark.parametrize("header", ["*", "x-gzip", "GZip"])
def test_gzip_accepted_in_any_spelling_is_sent_kept_pages_or_not(client, editor, newsroom, header):
    prime(client, "/")
    staff = Client()
    staff.force_login(editor)
    for response in (
        client.get("/", headers={"Accept-Encoding": header}),
        staff.get("/", headers={"Accept-Encoding": header}),
    ):
        assert response["Content-Encoding"] == "gzip"
        assert gzip.decompress(response.content).startswith(b"<!doctype html>")


# Sessions: only a real one may make a page vary (issue 15, finding 11)


def real_session(**data):
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store.update(data)
    store.save()
    return store.session_key


@pytest.mark.parametrize("cookie", ["garbage", "x" * 32])
def test_a_cookie_naming_no_session_changes_nothing_for_later_readers(client, newsroom, cookie):
    visitor = Client()
    visitor.cookies["sessionid"] = cookie
    for url in ("/", f"/news/{newsroom[3][0].slug}/", "/tags/semiconductors/"):
        made = visitor.get(url)
        assert made["X-Cache"] == "miss", url
        later = client.get(url)
        assert is_hit(later) and later["Vary"] == "Accept-Encoding", url


def test_kept_pages_never_vary_on_cookie_made_or_hit(client, newsroom):
    for url in ("/", f"/news/{newsroom[3][0].slug}/", "/tags/", "/feed/", "/search/?q=live"):
        for response in (client.get(url), client.get(url)):
            assert "Cookie" not in response.get("Vary", ""), url


def test_an_anonymous_reader_with_a_real_session_gets_the_page_everyone_gets(client, newsroom):
    visitor = Client()
    visitor.cookies["sessionid"] = real_session(theme="dark")
    made = visitor.get("/")
    assert made["X-Cache"] == "miss" and "Cookie" not in made.get("Vary", "")
    assert is_hit(client.get("/"))
    assert is_hit(visitor.get("/"))


@pytest.mark.urls(__name__)
def test_a_page_made_from_a_real_sessions_contents_is_never_kept(client, db, test_views):
    client.cookies["sessionid"] = real_session(seen=True)
    assert text(client.get("/reads_session/")) == "seen before: True"
    stranger = Client()
    response = stranger.get("/reads_session/")
    assert text(response) == "seen before: False" and not is_hit(response)
    assert is_hit(stranger.get("/reads_session/"))  # an empty session is the same for everyone


# HEAD: no body, on any path (issue 15, finding 12)


def wsgi_head(path, cookie=None, **extra):
    """HEAD through Django's WSGI handler, as gunicorn calls conclave.wsgi.application (no test client
    trims the body): (status, headers, the body bytes the server would be handed)."""
    environ = {
        "REQUEST_METHOD": "HEAD",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": io.StringIO(),
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if cookie:
        environ["HTTP_COOKIE"] = cookie
    environ.update(extra)
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer.update(status=int(status.split()[0]), headers=dict(headers))

    # As the test client does: the test's own database connection must survive the request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        result = WSGIHandler()(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            result.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return answer["status"], answer["headers"], body


def test_no_answer_to_head_carries_a_body(client, editor, newsroom):
    article = newsroom[3][0]
    anonymous = [
        ("/", 200),  # not kept yet: the view answers
        (article.get_absolute_url(), 200),
        ("/tags/semiconductors/follow/", 302),  # never cached
        ("/healthz", 200),
        ("/admin/login/", 200),
        ("/robots.txt", 200),
        ("/feed/", 200),
        ("/favicon.ico", 301),
        ("/news/no-such-story/", 404),
        ("/static/css/site.css", 200),
    ]
    for url, status in anonymous:
        answer = wsgi_head(url)
        assert answer[0] == status and answer[2] == b"", url
    page = client.get("/")
    status, headers, body = wsgi_head("/")  # kept now
    assert (status, body, headers["X-Cache"]) == (200, b"", "hit")
    assert headers["Content-Length"] == str(len(page.content))
    staff = Client()
    staff.force_login(editor)
    cookie = f"sessionid={staff.cookies['sessionid'].value}"
    for url in ("/", article.get_absolute_url(), "/admin/", "/admin/articles/article/"):
        status, headers, body = wsgi_head(url, cookie=cookie)
        assert status == 200 and body == b"", url
        assert int(headers["Content-Length"]) > 0, url  # how long the GET's body would be


def test_a_304_claims_no_length(client, newsroom):
    page = client.get("/")  # kept now
    for method in ("HEAD", "GET"):
        status, headers, body = wsgi_head("/", REQUEST_METHOD=method, HTTP_IF_NONE_MATCH=page["ETag"])
        assert (status, body) == (304, b""), method
        assert "Content-Length" not in headers, method  # RFC 9110, 8.6: not "0", the 200's length or none


# Dogpile: one request makes a stale page again, the others get the previous copy (issue 15, finding 12)


def publish_the_draft(callbacks):
    draft = Article.objects.get(title="Draft story")
    draft.status = Article.Status.PUBLISHED
    with callbacks(execute=True):
        draft.save()


def hold_rebuild(url, seconds=3600):
    """As if another request were making this page again, for ``seconds`` by our clock."""
    lock = pagecache._page_key(f"http://testserver{url}") + ":rebuild"
    cache.set(lock, timezone.now() + datetime.timedelta(seconds=seconds), seconds)


def test_while_one_request_makes_a_stale_page_again_the_others_get_the_previous_copy(
    client, newsroom, monkeypatch, django_capture_on_commit_callbacks
):
    prime(client, "/")
    publish_the_draft(django_capture_on_commit_callbacks)
    meanwhile = []
    read_front_page = views.FrontPage.read

    def read_while_another_reader_arrives(per_page):
        if not meanwhile:  # one other reader, arriving while the page is being made
            meanwhile.append(None)
            meanwhile[0] = Client().get("/")
        return read_front_page(per_page)

    monkeypatch.setattr(views.FrontPage, "read", read_while_another_reader_arrives)
    made = client.get("/")
    assert made["X-Cache"] == "miss" and "Draft story" in text(made)
    [other] = meanwhile
    assert other.status_code == 200 and other["X-Cache"] == "stale"
    assert "Draft story" not in text(other)  # the previous copy, while the new one was made
    assert other["Cache-Control"] == "no-cache"  # which nobody may keep
    assert is_hit(client.get("/"))
    assert len(meanwhile) == 1


def test_readers_arriving_while_a_page_is_made_again_wait_for_it_rather_than_get_the_old_copy(
    client, newsroom, monkeypatch, django_capture_on_commit_callbacks
):
    prime(client, "/")
    publish_the_draft(django_capture_on_commit_callbacks)
    hold_rebuild("/")  # another request is making the home page again
    waited, sleep = [], time.sleep

    def the_other_request_keeps_the_page(seconds):
        waited.append(seconds)
        if len(waited) == 3:  # a few polls later, the other request is done
            cache.delete(pagecache._page_key("http://testserver/") + ":rebuild")
            made = Client().get("/")
            assert made["X-Cache"] == "miss" and "Draft story" in text(made)
        sleep(0)

    monkeypatch.setattr(time, "sleep", the_other_request_keeps_the_page)
    reader = client.get("/")
    assert reader["X-Cache"] == "hit" and "Draft story" in text(reader)  # the new page, not the old copy
    assert len(waited) == 3 and set(waited) == {pagecache.REMAKE_POLL_SECONDS}


def test_a_reader_waits_for_a_remake_only_so_long_then_gets_the_previous_copy(
    client, newsroom, monkeypatch, django_capture_on_commit_callbacks
):
    prime(client, "/")
    publish_the_draft(django_capture_on_commit_callbacks)
    hold_rebuild("/")  # a request stuck making it
    polls = []
    monkeypatch.setattr(time, "sleep", polls.append)
    reader = client.get("/")
    assert reader["X-Cache"] == "stale" and "Draft story" not in text(reader)
    assert sum(polls) == pytest.approx(pagecache.REMAKE_WAIT_SECONDS)


def test_a_page_made_just_before_taking_the_lock_is_not_made_again(
    client, newsroom, monkeypatch, django_capture_on_commit_callbacks
):
    """Two readers find the page stale; the first makes it and frees the lock before the second takes
    it: the second serves what the first made."""
    prime(client, "/")
    publish_the_draft(django_capture_on_commit_callbacks)
    renders = []
    read_front_page, grace = views.FrontPage.read, pagecache._grace
    monkeypatch.setattr(
        views.FrontPage, "read", lambda per_page: renders.append(1) or read_front_page(per_page)
    )

    first = []

    def grace_after_another_reader_made_it(*args, **kwargs):
        if not first:
            first.append(None)
            first[0] = Client().get("/")  # the first reader, all the way through
        return grace(*args, **kwargs)

    monkeypatch.setattr(pagecache, "_grace", grace_after_another_reader_made_it)
    second = client.get("/")
    assert first[0]["X-Cache"] == "miss"
    assert second["X-Cache"] == "hit" and "Draft story" in text(second)
    assert len(renders) == 1


def test_a_stale_copy_is_served_at_most_grace_seconds_after_the_change(
    client, newsroom, time_machine, django_capture_on_commit_callbacks
):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    prime(client, "/")
    publish_the_draft(django_capture_on_commit_callbacks)
    hold_rebuild("/")  # a request that takes long to make it
    time_machine.move_to(start + datetime.timedelta(seconds=pagecache.GRACE_SECONDS - 1), tick=False)
    assert client.get("/")["X-Cache"] == "stale"
    time_machine.move_to(start + datetime.timedelta(seconds=pagecache.GRACE_SECONDS + 1), tick=False)
    response = client.get("/")
    assert response["X-Cache"] == "miss" and "Draft story" in text(response)


def test_a_dead_rebuilders_lock_runs_out(client, newsroom, time_machine, django_capture_on_commit_callbacks):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    prime(client, "/")
    publish_the_draft(django_capture_on_commit_callbacks)
    hold_rebuild("/", seconds=pagecache.REBUILD_SECONDS)  # as a request takes it, and then dies
    assert pagecache.REBUILD_SECONDS < pagecache.GRACE_SECONDS
    assert client.get("/")["X-Cache"] == "stale"
    time_machine.move_to(start + datetime.timedelta(seconds=pagecache.REBUILD_SECONDS + 1), tick=False)
    response = client.get("/")
    assert response["X-Cache"] == "miss" and "Draft story" in text(response)


def test_a_head_request_gets_the_stale_copy_and_leaves_the_making_to_a_get(
    client, newsroom, django_capture_on_commit_callbacks
):
    prime(client, "/")
    publish_the_draft(django_capture_on_commit_callbacks)
    assert client.head("/")["X-Cache"] == "stale"  # HEAD answers are not kept: it would make it in vain
    made = client.get("/")
    assert made["X-Cache"] == "miss" and "Draft story" in text(made)


def test_a_story_going_live_ends_the_grace_of_every_page_within_grace_seconds(client, newsroom, time_machine):
    future = Article.objects.get(title="Future story")
    time_machine.move_to(future.published_at - datetime.timedelta(seconds=30), tick=False)
    prime(client, "/")
    hold_rebuild("/", seconds=24 * 3600)
    time_machine.move_to(
        future.published_at + datetime.timedelta(seconds=pagecache.GRACE_SECONDS - 1), tick=False
    )
    assert client.get("/")["X-Cache"] == "stale"
    time_machine.move_to(
        future.published_at + datetime.timedelta(seconds=pagecache.GRACE_SECONDS + 1), tick=False
    )
    response = client.get("/")
    assert response["X-Cache"] == "miss" and "Future story" in text(response)


def unpublish(article):
    article.status = Article.Status.DRAFT
    article.save()


def delete(article):
    article.delete()


def move_back_to_the_future(article):
    article.published_at = timezone.now() + datetime.timedelta(days=1)
    article.save()


def untag(article):
    article.tags.remove(Tag.objects.get(slug="semiconductors"))


@pytest.mark.parametrize("takedown", [unpublish, delete, move_back_to_the_future, untag])
def test_nothing_taken_down_is_ever_served_stale(
    client, newsroom, takedown, django_capture_on_commit_callbacks
):
    article = newsroom[3][0]
    urls = ["/", "/tags/semiconductors/", "/feed/", article.get_absolute_url()]
    prime(client, *urls)
    for url in urls:
        hold_rebuild(url)  # every page is being made again, slowly
    with django_capture_on_commit_callbacks(execute=True):
        takedown(article)
    pages = urls if takedown is not untag else urls[1:2]
    for url in pages:
        response = client.get(url)
        assert response.get("X-Cache") != "stale", url
        assert f"/news/{article.slug}/" not in text(response) or url == article.get_absolute_url(), url
    if takedown is not untag:
        assert client.get(article.get_absolute_url()).status_code == 404


def test_an_edit_keeps_the_grace(client, newsroom, django_capture_on_commit_callbacks):
    prime(client, "/")
    hold_rebuild("/")
    with django_capture_on_commit_callbacks(execute=True):
        edit_article(newsroom)
    assert client.get("/")["X-Cache"] == "stale"


def correct(article):
    return Correction.objects.create(article=article, note="A date was wrong.")


# (what is done, to the story of which state): whether readers lose something, so no stale copy may be served.
TAKEDOWNS = [
    ("remove a tag", "draft", False),
    ("remove a tag", "scheduled", False),
    ("remove a tag", "live", True),
    ("edit", "scheduled", False),
    ("edit", "draft", False),
    ("unpublish", "live", True),
    ("move to the future", "live", True),
    ("delete", "draft", False),
    ("delete", "scheduled", False),
    ("delete", "live", True),
    ("delete a correction", "live", True),
    ("delete a correction", "draft", False),
    ("remove the byline", "live", True),
    ("remove the byline", "scheduled", False),
]


@pytest.mark.parametrize(("change", "state", "hard"), TAKEDOWNS)
def test_only_what_readers_could_see_is_taken_down_hard(
    newsroom, django_capture_on_commit_callbacks, monkeypatch, change, state, hard
):
    """A hard purge ends the grace of the pages it purges; a writer's draft edits or a scheduled story's
    must not, or the home page's readers all render at once after each (the dogpile the grace prevents)."""
    article = Article.objects.get(
        title={"draft": "Draft story", "scheduled": "Future story", "live": "Live story 0"}[state]
    )
    correction = correct(article)
    purges = []
    monkeypatch.setattr(pagecache, "purge", lambda keys, hard=False: purges.append(hard))
    actions = {
        "remove a tag": lambda: article.tags.remove(Tag.objects.get(slug="semiconductors")),
        "edit": article.save,  # what the editor changed does not matter here: the story's state does
        "unpublish": lambda: unpublish(article),
        "move to the future": lambda: move_back_to_the_future(article),
        "delete": article.delete,
        "delete a correction": correction.delete,
        "remove the byline": lambda: article.authors.clear(),
    }
    with django_capture_on_commit_callbacks(execute=True):
        actions[change]()
    # A draft's own changes purge nothing; a scheduled story's only its future listings, softly.
    assert any(purges) is hard, purges


def test_an_authorization_header_neither_bypasses_nor_changes_the_page(client, newsroom):
    """The site signs nobody in by that header: a client sending one (to have a costly page rendered
    for it each time, say) gets the page every reader gets, kept."""
    assert client.get("/search/?q=story")["X-Cache"] == "miss"
    again = client.get("/search/?q=story", HTTP_AUTHORIZATION="Basic eDp4")
    assert again["X-Cache"] == "hit" and "private" not in again.get("Cache-Control", "")
