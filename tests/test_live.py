"""Live coverage (issue 20): a story marked live gets timestamped updates, newest first, key points pinned
above them, until an editor ends it; the page and the fragment its readers poll stay cached pages, and an
update shows from the next request after it is posted."""

import datetime
import json
import re

import pytest
import requests
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from articles import live
from articles.models import Article, Author, LiveEntry
from tests.factories import ArticleFactory, AuthorFactory, library_image
from tests.support.headers import content_security_policy

pytestmark = pytest.mark.django_db


@pytest.fixture
def live_story():
    return ArticleFactory(
        title="The keynote, live",
        slug="keynote-live",
        coverage=Article.Coverage.LIVE,
        authors=[AuthorFactory(name="Ada Brooks", slug="ada-brooks")],
    )


@pytest.fixture
def poster(django_user_model):
    return django_user_model.objects.create_user("desk", is_staff=True, is_superuser=True)


def json_ld(html):
    return json.loads(re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S).group(1))


# -- The coverage's times ----------------------------------------------------------------------------


def test_coverage_starts_when_marked_live_ends_when_ended_and_reopens(time_machine):
    time_machine.move_to(datetime.datetime(2026, 3, 2, 17, 0, tzinfo=datetime.UTC), tick=False)
    story = ArticleFactory(published_at=timezone.now() - datetime.timedelta(hours=1))
    assert story.coverage_started_at is None
    story.coverage = Article.Coverage.LIVE
    story.save()
    assert story.coverage_started_at == timezone.now() and story.coverage_ended_at is None

    time_machine.move_to(datetime.datetime(2026, 3, 2, 19, 30, tzinfo=datetime.UTC), tick=False)
    story.coverage = Article.Coverage.ENDED
    story.save()
    assert story.coverage_started_at == datetime.datetime(2026, 3, 2, 17, 0, tzinfo=datetime.UTC)
    assert story.coverage_ended_at == timezone.now()

    story.coverage = Article.Coverage.LIVE  # reopened: the start stays, the end is gone
    story.save()
    assert story.coverage_started_at.hour == 17 and story.coverage_ended_at is None
    story.coverage = Article.Coverage.NONE
    story.save()
    assert story.coverage_started_at is None and story.coverage_ended_at is None


def test_a_scheduled_live_story_starts_its_coverage_when_it_goes_out():
    later = timezone.now() + datetime.timedelta(hours=3)
    story = ArticleFactory(published_at=later, coverage=Article.Coverage.LIVE)
    assert story.coverage_started_at == later


# -- Updates ----------------------------------------------------------------------------------------


def test_an_update_goes_through_the_story_pipeline_and_is_sanitized(live_story, poster):
    entry = live.post(
        live_story,
        poster,
        "**Launch confirmed.** The chip ships in May.\n\n<script>alert(1)</script>"
        '[docs](javascript:alert(1)) <img src=x onerror="alert(1)">',
    )
    assert "<strong>Launch confirmed.</strong>" in entry.body_html
    assert "<script" not in entry.body_html and "onerror" not in entry.body_html
    assert "javascript:" not in entry.body_html
    assert entry.headline == "Launch confirmed."
    assert entry.text.startswith("Launch confirmed. The chip ships in May.")


def test_a_long_first_sentence_makes_a_headline_of_at_most_110_characters(live_story, poster):
    entry = live.post(live_story, poster, "word " * 60)
    assert len(entry.headline) <= 110 and entry.headline.endswith("…")


def test_an_update_moves_the_story_s_updated_time(live_story, poster):
    before = live_story.revised_at
    entry = live.post(live_story, poster, "New figures.")
    live_story.refresh_from_db()
    assert before is None and live_story.revised_at == entry.posted_at


def test_an_update_with_a_missing_picture_or_too_long_is_refused_and_nothing_is_saved(live_story, poster):
    with pytest.raises(ValidationError, match="image:999"):
        live.post(live_story, poster, "![A chart](image:999)")
    with pytest.raises(ValidationError, match="at most 5000 characters"):
        live.post(live_story, poster, "x" * 5001)
    assert not LiveEntry.objects.exists()


def test_a_picture_from_the_library_shows_in_an_update_and_follows_its_changes(live_story, poster):
    picture = library_image(alt="The stage at the keynote")
    entry = live.post(live_story, poster, f"On stage now.\n\n![](image:{picture.pk})")
    assert 'alt="The stage at the keynote"' in entry.body_html
    assert list(picture.used_in()) == [live_story]
    assert entry.headline == "On stage now."  # the words, not the picture's credit
    picture.alt = "The keynote stage, lights down"
    picture.save()
    entry.refresh_from_db()
    assert 'alt="The keynote stage, lights down"' in entry.body_html


def test_who_may_post_change_and_list_updates(live_story, django_user_model):
    writer_group, editor_group = Group.objects.get(name="Writer"), Group.objects.get(name="Editor")
    on_byline = django_user_model.objects.create_user("ada", is_staff=True)
    on_byline.groups.add(writer_group)
    Author.objects.filter(slug="ada-brooks").update(user=on_byline)
    other_writer = django_user_model.objects.create_user("bo", is_staff=True)
    other_writer.groups.add(writer_group)
    editor = django_user_model.objects.create_user("ed", is_staff=True)
    editor.groups.add(editor_group)

    assert live.may_post(on_byline, live_story) and live.may_post(editor, live_story)
    assert not live.may_post(other_writer, live_story)
    entry = live.post(live_story, on_byline, "From the hall.")
    assert entry.author == live_story.authors.first()  # the poster's byline
    assert live.may_change(on_byline, entry) and live.may_change(editor, entry)
    assert not live.may_change(other_writer, entry)
    assert list(live.entries_open_to(other_writer)) == []
    assert list(live.entries_open_to(on_byline)) == [entry]

    live_story.coverage = Article.Coverage.ENDED
    live_story.save()
    assert not live.may_post(editor, live_story)  # ended: reopen it first


# -- The page ---------------------------------------------------------------------------------------


def test_the_live_page_shows_key_points_first_then_updates_newest_first_each_with_its_anchor(
    client, live_story, poster
):
    first = live.post(live_story, poster, "Doors open.")
    key = live.post(live_story, poster, "The M5 chip is announced. More below.", is_key_point=True)
    last = live.post(live_story, poster, "Benchmarks on screen.")
    html = client.get(live_story.get_absolute_url()).content.decode()

    key_points = html[html.index('id="key-points-heading"') : html.index('class="article__body')]
    assert f'href="#update-{key.pk}">The M5 chip is announced.</a>' in key_points
    assert "Doors open" not in key_points
    updates = html[html.index('<section class="live"') :]
    positions = [updates.index(f'id="update-{entry.pk}"') for entry in (last, key, first)]
    assert positions == sorted(positions)
    assert f'<a class="live-entry__time" href="#update-{first.pk}">' in updates
    assert "Key point" in updates and "Live" in updates
    assert 'aria-live="polite"' in updates
    assert 'data-live-url="/news/keynote-live/live/"' in updates
    assert "js/live" in html


def test_an_ended_story_says_so_and_loads_no_script(client, live_story, poster):
    live.post(live_story, poster, "Wrapping up.")
    live_story.coverage = Article.Coverage.ENDED
    live_story.save()
    html = client.get(live_story.get_absolute_url()).content.decode()
    assert "This coverage ended on" in html and "Wrapping up." in html
    assert "js/live" not in html and "data-live-url" not in html


def test_an_ordinary_story_has_no_live_section_and_costs_no_query_for_updates(client, no_page_cache):
    story = ArticleFactory()
    live_twin = ArticleFactory(coverage=Article.Coverage.LIVE)
    cache.clear()  # each page made from nothing kept: its story parts, the navigation...
    with CaptureQueriesContext(connection) as ordinary:
        html = client.get(story.get_absolute_url()).content.decode()
    cache.clear()
    with CaptureQueriesContext(connection) as with_updates:
        client.get(live_twin.get_absolute_url())
    assert 'id="live-heading"' not in html and "live_entries" not in " ".join(
        query["sql"] for query in ordinary.captured_queries
    )
    assert len(with_updates) == len(ordinary) + 1  # the updates, with their authors, in one query


def test_a_page_with_many_updates_costs_the_same_queries(client, live_story, poster, no_page_cache):
    live.post(live_story, poster, "One.")
    cache.clear()
    with CaptureQueriesContext(connection) as one:
        client.get(live_story.get_absolute_url())
    for number in range(15):
        live.post(live_story, poster, f"Update {number}.", is_key_point=number % 5 == 0)
    cache.clear()
    with CaptureQueriesContext(connection) as many:
        client.get(live_story.get_absolute_url())
    assert len(many) == len(one)


def test_while_live_the_page_s_policy_lets_in_every_player_an_update_may_bring(
    client, live_story, poster, django_capture_on_commit_callbacks
):
    """An update shown without a reload may bring a player the page had not: its policy, made when it
    was loaded, already allows it. Once the coverage ends, only the players shown."""
    from articles.embeds import providers
    from articles.embeds.models import Embed

    response = client.get(live_story.get_absolute_url())
    assert content_security_policy(response).get("frame-src") == sorted(providers.FRAME_ORIGINS)
    assert "js/embeds" in response.content.decode()

    Embed.objects.create(
        url="https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        provider="youtube",
        kind="video",
        title="The keynote stream",
        status="ok",
    )
    with django_capture_on_commit_callbacks(execute=True):  # the purges
        live.post(live_story, poster, "Watch it here:\n\nhttps://www.youtube.com/watch?v=dQw4w9WgXcQ")
        live_story.coverage = Article.Coverage.ENDED
        live_story.save()
    response = client.get(live_story.get_absolute_url())
    assert content_security_policy(response).get("frame-src") == ["https://www.youtube-nocookie.com"]
    assert "js/embeds" in response.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        LiveEntry.objects.all().delete()
    response = client.get(live_story.get_absolute_url())
    assert content_security_policy(response).get("frame-src") is None
    assert "js/embeds" not in response.content.decode()


# -- Search engines ---------------------------------------------------------------------------------


def test_a_live_story_is_a_liveblogposting_with_its_updates(client, live_story, poster):
    entry = live.post(live_story, poster, "The keynote begins. Lights down.")
    data = json_ld(client.get(live_story.get_absolute_url()).content.decode())
    assert data["@type"] == "LiveBlogPosting"
    assert data["coverageStartTime"] == live_story.coverage_started_at.isoformat()
    assert "coverageEndTime" not in data  # still running
    (update,) = data["liveBlogUpdate"]
    assert update["@type"] == "BlogPosting"
    assert update["headline"] == "The keynote begins."
    assert update["url"].endswith(f"/news/keynote-live/#update-{entry.pk}")
    assert update["datePublished"] == entry.posted_at.isoformat()
    assert update["articleBody"] == "The keynote begins. Lights down."


def test_an_ended_story_tells_search_engines_when_and_an_ordinary_one_stays_a_newsarticle(
    client, live_story, poster
):
    live_story.coverage = Article.Coverage.ENDED
    live_story.save()
    data = json_ld(client.get(live_story.get_absolute_url()).content.decode())
    assert data["coverageEndTime"] == live_story.coverage_ended_at.isoformat()
    ordinary = json_ld(client.get(ArticleFactory().get_absolute_url()).content.decode())
    assert ordinary["@type"] == "NewsArticle" and "liveBlogUpdate" not in ordinary


def test_search_engines_get_the_newest_updates_only(client, live_story, poster):
    for number in range(live.JSON_LD_ENTRIES + 3):
        live.post(live_story, poster, f"Update {number}.")
    data = json_ld(client.get(live_story.get_absolute_url()).content.decode())
    assert len(data["liveBlogUpdate"]) == live.JSON_LD_ENTRIES
    assert data["liveBlogUpdate"][0]["headline"] == f"Update {live.JSON_LD_ENTRIES + 2}."


# -- The fragment readers poll, and the caches ------------------------------------------------------


def test_the_fragment_holds_the_newest_updates_and_their_total(client, live_story, poster):
    entries = [
        live.post(live_story, poster, f"Update {number}.") for number in range(live.FRAGMENT_ENTRIES + 2)
    ]
    response = client.get("/news/keynote-live/live/")
    html = response.content.decode()
    assert response.status_code == 200
    assert f'data-total="{len(entries)}"' in html and 'data-coverage="live"' in html
    shown = [int(pk) for pk in re.findall(r'data-entry="(\d+)"', html)]
    assert shown == [entry.pk for entry in reversed(entries)][: live.FRAGMENT_ENTRIES]
    assert "<html" not in html  # a fragment, not a page


def test_no_fragment_for_an_ordinary_story_a_draft_or_a_scheduled_one(client):
    ordinary = ArticleFactory()
    draft = ArticleFactory(status="draft", coverage=Article.Coverage.LIVE)
    scheduled = ArticleFactory(
        coverage=Article.Coverage.LIVE, published_at=timezone.now() + datetime.timedelta(hours=1)
    )
    for story in (ordinary, draft, scheduled):
        assert client.get(f"/news/{story.slug}/live/").status_code == 404
    assert client.post("/news/nothing-here/live/").status_code in (404, 405)


def test_page_and_fragment_are_hits_between_updates_and_show_a_new_one_at_the_next_request(
    client, live_story, poster, django_capture_on_commit_callbacks
):
    live.post(live_story, poster, "First.")
    for path in (live_story.get_absolute_url(), "/news/keynote-live/live/"):
        assert client.get(path)["X-Cache"] == "miss"
        again = client.get(path)
        assert again["X-Cache"] == "hit" and "Surrogate-Key" in again
        assert f"story-{live_story.pk}" in again["Surrogate-Key"].split()
        # Browsers ask again every time (a 304 while nothing changed); shared caches keep it.
        assert "max-age=0" in again["Cache-Control"] and "s-maxage=" in again["Cache-Control"]
        assert client.get(path, HTTP_IF_NONE_MATCH=again["ETag"]).status_code == 304

    with django_capture_on_commit_callbacks(execute=True):
        live.post(live_story, poster, "Second, just in.")
    for path in (live_story.get_absolute_url(), "/news/keynote-live/live/"):
        response = client.get(path)
        assert response["X-Cache"] != "hit" and "Second, just in." in response.content.decode(), path


def test_deleting_an_update_takes_it_off_the_page_at_once(
    client, live_story, poster, django_capture_on_commit_callbacks
):
    entry = live.post(live_story, poster, "Posted by mistake.")
    client.get(live_story.get_absolute_url())
    with django_capture_on_commit_callbacks(execute=True):
        entry.delete()
    assert "Posted by mistake." not in client.get(live_story.get_absolute_url()).content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_reader_s_poll_is_answered_while_an_update_is_being_written(live_server, live_story, poster):
    # A poll that fails makes the reader's script back off for minutes: it must not wait on the desk.
    live.post(live_story, poster, "Already there.")
    with transaction.atomic():
        live.post(live_story, poster, "Being written.")
        response = requests.get(f"{live_server.url}/news/keynote-live/live/", timeout=10)
    assert response.status_code == 200
    assert "Already there." in response.text


def test_marking_a_story_live_puts_a_mark_on_its_cards(client, live_story):
    html = client.get("/").content.decode()
    assert '<span class="live-mark">Live</span>The keynote, live' in html


def test_a_key_point_is_dated_from_when_it_became_one(live_story, poster, time_machine):
    time_machine.move_to(datetime.datetime(2026, 3, 2, 17, 0, tzinfo=datetime.UTC), tick=False)
    posted_as_key = live.post(live_story, poster, "Announced.", is_key_point=True)
    plain = live.post(live_story, poster, "Details.")
    assert posted_as_key.key_point_at == posted_as_key.posted_at and plain.key_point_at is None
    time_machine.move_to(datetime.datetime(2026, 3, 2, 17, 20, tzinfo=datetime.UTC), tick=False)
    plain.is_key_point = True
    plain.save()
    assert plain.key_point_at == timezone.now()
    plain.is_key_point = False
    plain.save()
    assert plain.key_point_at is None


def test_the_follow_box_of_a_live_story_says_what_its_followers_get(client, live_story):
    html = client.get(live_story.get_absolute_url()).content.decode()
    assert "Get its key points by email as they happen" in html
    ended = ArticleFactory(coverage=Article.Coverage.ENDED)
    html = client.get(ended.get_absolute_url()).content.decode()
    assert "Get a summary of its live coverage and its corrections by email." in html
    assert "as they happen" not in html
    ordinary = client.get(ArticleFactory().get_absolute_url()).content.decode()
    assert "Get its corrections and updates by email." in ordinary and "key points" not in ordinary
