"""Most read (articles/readership.py, articles/beacon.py): the beacon, what counts (once a day per visitor,
no bots), the hourly buckets, the box on the home and story pages and its refresh, the dashboard."""

import datetime

import html5lib
import pytest
from django.apps import apps
from django.core.cache import cache
from django.db import connection
from django.urls import reverse

from articles import readership
from articles.models import Article
from tests.factories import ArticleFactory

BEACON = reverse("articles:beacon")
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:145.0) Gecko/20100101 Firefox/145.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
ORIGIN = "http://testserver"  # the test client's own site
# Mid-morning UTC, so that hours and days can be crossed on purpose.
NOW = datetime.datetime(2031, 3, 14, 9, 30, tzinfo=datetime.UTC)


@pytest.fixture(autouse=True)
def frozen_now(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def stories(db):
    two_days_ago = NOW - datetime.timedelta(days=2)
    return [ArticleFactory(title=f"Story {n}", published_at=two_days_ago) for n in range(12)]


def send(client, body, ip="203.0.113.7", ua=CHROME, origin=ORIGIN, **headers):
    meta = {"REMOTE_ADDR": ip, "HTTP_USER_AGENT": ua, **headers}
    if origin is not None:
        meta["HTTP_ORIGIN"] = origin
    return client.post(BEACON, body, content_type="text/plain;charset=UTF-8", **meta)


def view(client, article, **kwargs):
    response = send(client, readership.ticket(article.pk), **kwargs)
    assert response.status_code == 204
    return response


def counts(hours=24):
    return dict(readership.most_read(hours, limit=None))


def box_titles(response):
    doc = html5lib.parse(response.content, namespaceHTMLElements=False)
    return [a.text for a in doc.findall(".//aside[@class='most-read']/ol/li/a")]


# -- The beacon ----------------------------------------------------------------------------------------


def test_a_view_answers_204_with_no_cookie_no_body_and_no_store(client, stories, django_assert_num_queries):
    with django_assert_num_queries(0):  # the cache alone: no database on the way
        response = view(client, stories[0])
    assert response.content == b""
    assert response.cookies == {} and "Set-Cookie" not in response
    assert response["Cache-Control"] == "no-store"
    assert counts() == {stories[0].pk: 1}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"42",  # an id with no signature
        b"42:forged-signature",
        b"abc:def",
        "\u00e9\u00e8".encode(),  # not ASCII
        b"\xff\xfe\x00",
        b"\x00",
    ],
)
def test_a_body_that_is_no_ticket_is_refused_and_counts_nothing(client, stories, body):
    assert send(client, body).status_code == 400
    assert counts() == {}


def test_a_ticket_for_another_id_does_not_pass(client, stories):
    pk, signature = readership.ticket(stories[0].pk).split(":", 1)
    assert send(client, f"{stories[1].pk}:{signature}").status_code == 400
    assert counts() == {}


def test_a_long_body_is_refused_before_it_is_read(client, stories):
    assert send(client, b"1" * 10_000).status_code == 413
    assert counts() == {}


@pytest.mark.parametrize("method", ["get", "head", "put", "delete", "options"])
def test_only_post_is_answered(client, stories, method):
    response = getattr(client, method)(BEACON)
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_no_csrf_token_is_needed(stories):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    view(client, stories[0])
    assert counts() == {stories[0].pk: 1}


def test_a_failing_cache_loses_the_view_not_the_answer(client, stories, monkeypatch, caplog):
    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(readership, "daily_salt", down)
    view(client, stories[0])
    assert "view not counted" in caplog.text


# -- What counts ---------------------------------------------------------------------------------------


def test_a_visitors_repeat_views_count_once_a_day_and_again_the_next(client, stories, time_machine):
    for _ in range(3):
        view(client, stories[0])
    time_machine.move_to(NOW.replace(hour=23, minute=59), tick=False)
    view(client, stories[0])
    assert counts() == {stories[0].pk: 1}
    # A new UTC day: a new salt, and the same visitor counts again.
    time_machine.move_to(NOW.replace(hour=0, minute=1) + datetime.timedelta(days=1), tick=False)
    view(client, stories[0])
    view(client, stories[0])
    assert counts() == {stories[0].pk: 2}


def test_different_visitors_and_stories_count_apart(client, stories):
    view(client, stories[0], ip="203.0.113.1")
    view(client, stories[0], ip="203.0.113.2")
    view(client, stories[0], ip="203.0.113.1", ua=FIREFOX)  # another browser on the same address
    view(client, stories[1], ip="203.0.113.1")
    assert counts() == {stories[0].pk: 3, stories[1].pk: 1}


def test_behind_the_proxy_the_visitor_is_the_address_the_proxy_saw(client, stories, settings):
    settings.BEHIND_TLS_PROXY = True
    view(client, stories[0], ip="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.1")
    view(client, stories[0], ip="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.2")
    # A forged first entry changes nothing: the last one is the proxy's.
    view(client, stories[0], ip="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.2")
    assert counts() == {stories[0].pk: 2}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ua": GOOGLEBOT},
        {"ua": "python-requests/2.32.3"},
        {"ua": "curl/8.5.0"},
        {"ua": ""},
        {"origin": None},  # not a browser's beacon: scripts replaying the URL send no Origin
        {"origin": "https://elsewhere.example"},
        {"HTTP_SEC_FETCH_SITE": "cross-site"},
    ],
    ids=["googlebot", "python-requests", "curl", "no user agent", "no origin", "other origin", "cross-site"],
)
def test_bots_are_answered_alike_and_not_counted(client, stories, kwargs):
    view(client, stories[0], **kwargs)
    assert counts() == {}


def test_the_sites_own_address_counts_as_its_origin_behind_a_cdn(client, stories, settings):
    settings.SITE_URL = "https://news.example.com"
    view(client, stories[0], origin="https://news.example.com", HTTP_SEC_FETCH_SITE="same-origin")
    assert counts() == {stories[0].pk: 1}


def test_a_visitor_reading_too_many_stories_a_minute_is_not_counted_that_day(client, stories, time_machine):
    limit = readership.MAX_STORIES_PER_MINUTE
    for story in stories[: limit + 1]:
        view(client, story)
    assert sum(counts().values()) == limit  # the first ten, then nothing
    time_machine.move_to(NOW + datetime.timedelta(hours=2), tick=False)
    view(client, stories[limit + 1])
    assert sum(counts().values()) == limit
    # Someone else, meanwhile, counts.
    view(client, stories[limit + 1], ip="198.51.100.9")
    assert counts()[stories[limit + 1].pk] == 1


def test_a_reader_going_through_many_stories_at_a_human_pace_counts_for_each(client, stories, time_machine):
    for minute, story in enumerate(stories):
        time_machine.move_to(NOW + datetime.timedelta(minutes=minute * 2), tick=False)
        view(client, story)
        view(client, story)  # a reload is no new story
    assert counts() == {story.pk: 1 for story in stories}


# -- Buckets and windows --------------------------------------------------------------------------------


def test_views_are_counted_by_hour_and_summed_over_the_window(client, stories, time_machine):
    view(client, stories[0], ip="203.0.113.1")
    time_machine.move_to(NOW + datetime.timedelta(hours=1), tick=False)
    view(client, stories[0], ip="203.0.113.2")
    view(client, stories[1], ip="203.0.113.2")
    assert counts(hours=1) == {stories[0].pk: 1, stories[1].pk: 1}  # this hour alone
    assert counts() == {stories[0].pk: 2, stories[1].pk: 1}
    # The 24 hours move on: the first hour drops out of the day, stays in the week.
    time_machine.move_to(NOW + datetime.timedelta(hours=24), tick=False)
    assert counts() == {stories[0].pk: 1, stories[1].pk: 1}
    assert counts(hours=readership.WEEK_HOURS) == {stories[0].pk: 2, stories[1].pk: 1}
    time_machine.move_to(NOW + datetime.timedelta(days=8), tick=False)
    assert counts(hours=readership.WEEK_HOURS) == {}


def test_most_read_ranks_by_views(client, stories):
    for n, story in enumerate(stories[:4]):
        for visitor in range(n + 1):
            view(client, story, ip=f"203.0.113.{visitor + 1}")
    assert readership.most_read(limit=3) == [(stories[3].pk, 4), (stories[2].pk, 3), (stories[1].pk, 2)]


def test_the_salt_is_random_per_day_and_kept_in_the_cache_alone(client, stories, time_machine):
    view(client, stories[0])
    salt = readership.daily_salt(NOW)
    assert salt and len(salt) == 32
    assert cache.get(f"mostread:salt:{NOW:%Y%m%d}") == salt
    # No model holds it, nor anything derived from the visitor: search every table's every row.
    with connection.cursor() as cursor:
        for model in apps.get_models():
            table = connection.ops.quote_name(model._meta.db_table)  # names from the models, not input
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608
            for row in cursor.fetchall():
                assert salt not in repr(row) and "203.0.113.7" not in repr(row), model
    tomorrow = NOW + datetime.timedelta(days=1)
    assert readership.daily_salt(tomorrow) not in (None, salt)
    # It expires with its day (a second later, for the beacon that read it at midnight).
    assert readership._until_tomorrow(NOW) == 14 * 3600 + 30 * 60 + 1


@pytest.mark.skipif(
    not readership.settings.CACHES["default"]["BACKEND"].endswith("RedisCache"), reason="Redis only"
)
def test_on_redis_an_hour_is_one_sorted_set_kept_eight_days(client, stories):
    for visitor in range(20):
        view(client, stories[0], ip=f"203.0.113.{visitor}")
    store = readership.store()
    key = store.bucket_key(NOW.strftime("%Y%m%d%H"))
    assert store.client.zscore(key, stories[0].pk) == 20
    assert store.client.zcard(key) == 1
    expires = datetime.datetime.fromtimestamp(store.client.expiretime(key), datetime.UTC)
    assert expires == NOW.replace(minute=0) + datetime.timedelta(hours=readership.KEEP_HOURS + 1)


# -- The box on the pages -------------------------------------------------------------------------------


def test_no_box_when_nothing_was_read(client, stories):
    for path in ("/", stories[0].get_absolute_url()):
        content = client.get(path).content.decode()
        assert "most-read" not in content and "Most read" not in content


def test_the_home_and_story_pages_list_the_days_most_read(client, stories):
    for n, story in enumerate(stories[:6]):
        for visitor in range(n + 1):
            view(client, story, ip=f"203.0.113.{visitor + 1}")
    expected = [f"Story {n}" for n in (5, 4, 3, 2, 1)]  # five, most read first
    assert box_titles(client.get("/")) == expected
    story_page = client.get(stories[0].get_absolute_url())
    assert box_titles(story_page) == expected
    doc = html5lib.parse(story_page.content, namespaceHTMLElements=False)
    links = [a.get("href") for a in doc.findall(".//aside[@class='most-read']/ol/li/a")]
    assert links == [stories[n].get_absolute_url() for n in (5, 4, 3, 2, 1)]
    # Labelled by its heading, for screen readers' list of landmarks.
    aside = doc.find(".//aside[@class='most-read']")
    assert doc.find(f".//*[@id='{aside.get('aria-labelledby')}']").text == "Most read"


def test_a_story_taken_down_leaves_the_box_and_drafts_never_enter_it(
    client, stories, django_capture_on_commit_callbacks
):
    draft = ArticleFactory(title="A draft", status=Article.Status.DRAFT, published_at=None)
    for visitor in range(3):
        view(client, draft, ip=f"203.0.113.{visitor}")  # a ticket forged for it (no page gives one)
    view(client, stories[0])
    view(client, stories[1])
    assert box_titles(client.get("/")) == ["Story 1", "Story 0"]
    stories[1].status = Article.Status.DRAFT
    with django_capture_on_commit_callbacks(execute=True):
        stories[1].save()
    assert box_titles(client.get("/")) == ["Story 0"]


def test_the_box_is_made_again_every_few_minutes_not_per_view(client, stories, time_machine):
    view(client, stories[0])
    response = client.get("/")
    assert box_titles(response) == ["Story 0"]
    # The pages that show it are kept no longer than it is, here and at the edge.
    assert "s-maxage=300" in response["Cache-Control"] or "s-maxage=2" in response["Cache-Control"]
    for visitor in range(3):
        view(client, stories[1], ip=f"198.51.100.{visitor}")
    time_machine.move_to(NOW + datetime.timedelta(seconds=readership.REFRESH_SECONDS - 1), tick=False)
    assert box_titles(client.get("/")) == ["Story 0"]
    assert box_titles(client.get(stories[2].get_absolute_url())) == ["Story 0"]
    time_machine.move_to(NOW + datetime.timedelta(seconds=readership.REFRESH_SECONDS + 1), tick=False)
    assert box_titles(client.get("/")) == ["Story 1", "Story 0"]
    assert box_titles(client.get(stories[2].get_absolute_url())) == ["Story 1", "Story 0"]


def test_the_box_costs_one_query_when_made_and_none_when_kept(stories, django_assert_num_queries):
    from conclave import pagecache

    readership.store().add(NOW.strftime("%Y%m%d%H"), stories[0].pk)
    with django_assert_num_queries(1):
        assert "Story 0" in readership.most_read_box()
    with django_assert_num_queries(0):
        assert "Story 0" in readership.most_read_box()
    pagecache.purge([pagecache.SITE_KEY])
    with django_assert_num_queries(1):
        assert "Story 0" in readership.most_read_box()


def test_the_box_costs_nothing_when_nothing_was_read(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert readership.most_read_box() == ""


def test_a_story_page_sends_its_ticket_from_the_sites_own_script(client, stories):
    content = client.get(stories[0].get_absolute_url()).content.decode()
    doc = html5lib.parse(content, namespaceHTMLElements=False)
    (script,) = [s for s in doc.findall(".//head/script") if "mostread" in (s.get("src") or "")]
    assert script.get("src") == "/static/js/mostread.js"
    assert script.get("defer") is not None and not (script.text or "").strip()
    assert script.get("data-beacon") == BEACON
    assert readership.article_id_of(script.get("data-ticket")) == stories[0].pk


def test_a_preview_sends_no_beacon_and_shows_no_box(editor_client, db):
    draft = ArticleFactory(title="Embargoed", status=Article.Status.DRAFT, published_at=None)
    readership.store().add(NOW.strftime("%Y%m%d%H"), ArticleFactory(title="Read").pk)
    content = editor_client.get(draft.get_absolute_url()).content.decode()
    assert "Draft preview" in content
    assert "mostread.js" not in content and "most-read" not in content


def test_other_pages_send_no_beacon(client, stories):
    for path in ("/", "/tags/", stories[0].section.get_absolute_url()):
        assert "mostread.js" not in client.get(path).content.decode()


# -- The dashboard --------------------------------------------------------------------------------------


def test_the_dashboard_shows_the_most_read_of_the_day_and_the_week(admin_client, stories, time_machine):
    for visitor in range(3):
        view(admin_client, stories[0], ip=f"203.0.113.{visitor}")
    time_machine.move_to(NOW + datetime.timedelta(days=2), tick=False)
    view(admin_client, stories[1])
    response = admin_client.get(reverse("admin:index"))
    doc = html5lib.parse(response.content, namespaceHTMLElements=False)
    panel = doc.find(".//div[@id='newsroom-most-read']")
    day, week = panel.findall(".//table")

    def rows(table):
        return [
            (row.find("th/a").text, row.find("td[@class='views']").text, row.find("th/a").get("href"))
            for row in table.findall("tbody/tr")
        ]

    change = reverse("admin:articles_article_change", args=[stories[1].pk])
    assert day.find("caption").text == "Most read, last 24 hours"
    assert rows(day) == [("Story 1", "1 view", change)]
    assert week.find("caption").text == "Most read, last 7 days"
    assert [row[:2] for row in rows(week)] == [("Story 0", "3 views"), ("Story 1", "1 view")]
    on_site = week.findall("tbody/tr/td/a[@class='viewlink']")
    assert [a.get("href") for a in on_site] == [stories[0].get_absolute_url(), stories[1].get_absolute_url()]


def test_the_dashboard_says_when_nothing_was_read(admin_client, db):
    response = admin_client.get(reverse("admin:index"))
    doc = html5lib.parse(response.content, namespaceHTMLElements=False)
    panel = doc.find(".//div[@id='newsroom-most-read']")
    assert ["".join(td.itertext()) for td in panel.findall(".//tbody/tr/td")] == ["No views counted yet."] * 2
