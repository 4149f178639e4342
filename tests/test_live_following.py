"""Following a live story by email (issue 20, part 3): followers who chose "immediately" get its key
points, each once, never its ordinary updates; every follower gets one digest when the coverage ends, at
the pace of their follow; all in the one email per run that Step 12 sends (articles/following/due.py)."""

import datetime
import re
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from articles.following import services
from articles.following.subscriptions import data_about
from articles.models import (
    Article,
    CoverageDigestDelivery,
    Delivery,
    Follow,
    KeyPointDelivery,
    LiveEntry,
    Subscriber,
    Suppression,
)
from tests.factories import ArticleFactory, TagFactory
from tests.test_notifications_smtp import smtp_server, text_of  # noqa: F401

UTC = datetime.UTC
SITE = "https://news.example.com"
MONDAY_10 = datetime.datetime(2026, 3, 9, 10, 0, tzinfo=UTC)  # well clear of the 06:00 digest hour


def run():
    out = StringIO()
    call_command("send_notifications", stdout=out, stderr=StringIO())
    return out.getvalue()


def at(time_machine, minutes):
    """Move to MONDAY_10 plus so many minutes (frozen)."""
    time_machine.move_to(MONDAY_10 + datetime.timedelta(minutes=minutes), tick=False)


def follow(email, target, frequency="immediate", since=None):
    """A confirmed subscriber following `target` since `since` (default: now)."""
    since = since or timezone.now()
    subscriber, _ = Subscriber.objects.get_or_create(email=email, defaults={"confirmed_at": since})
    Follow.objects.create(subscriber=subscriber, frequency=frequency, **Follow.target_filter(target))
    Follow.objects.filter(subscriber=subscriber).update(created_at=since)
    if frequency != "immediate":  # their digest period was last closed at this morning's digest hour
        Subscriber.objects.filter(pk=subscriber.pk).update(
            **{f"last_{frequency}_at": MONDAY_10.replace(hour=6)}
        )
    return subscriber


def post(story, body, key_point=False):
    return LiveEntry.objects.create(article=story, body=body, is_key_point=key_point)


def end(story):
    story.coverage = Article.Coverage.ENDED
    story.save()


def html_of(message):
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return html


@pytest.fixture
def keynote(db, time_machine):
    """A live story published an hour before MONDAY_10; the clock at MONDAY_10."""
    at(time_machine, -60)
    story = ArticleFactory(
        title="The keynote, live",
        slug="keynote-live",
        published_at=timezone.now(),
        coverage=Article.Coverage.LIVE,
    )
    at(time_machine, 0)
    return story


# -- Key points --------------------------------------------------------------------------------------


def test_an_immediate_follower_gets_a_key_point_once_and_never_the_ordinary_updates(keynote, time_machine):
    follow("reader@example.com", keynote)
    at(time_machine, 5)
    post(keynote, "Doors open; the hall is full.")
    point = post(keynote, "The M9 chip ships in May. It has 40 cores and costs $999.", key_point=True)
    post(keynote, "A video of a dog plays.")
    run()
    [message] = mail.outbox
    assert message.to == ["reader@example.com"]
    assert message.subject == "Key point: The M9 chip ships in May."
    anchor = f"{SITE}/news/keynote-live/#update-{point.pk}"
    assert anchor in message.body and f'href="{anchor}"' in html_of(message)
    assert "It has 40 cores and costs $999." in message.body
    assert "Doors open" not in message.body and "dog" not in message.body
    assert "Doors open" not in html_of(message)
    # The links and headers of every follow email.
    assert message.extra_headers["List-Unsubscribe"].startswith(f"<{SITE}/follow/unsubscribe/")
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"{SITE}/follow/manage/" in message.body and f"{SITE}/follow/manage/" in html_of(message)

    run()
    at(time_machine, 30)
    post(keynote, "Questions from the floor.")
    run()
    assert len(mail.outbox) == 1
    assert KeyPointDelivery.objects.count() == 1


def test_key_points_due_at_one_run_go_in_one_email(keynote, time_machine):
    follow("reader@example.com", keynote)
    at(time_machine, 5)
    post(keynote, "The M9 chip ships in May.", key_point=True)
    at(time_machine, 6)
    post(keynote, "AT&T & Verizon carry the phone.", key_point=True)
    run()
    [message] = mail.outbox
    assert message.subject == "2 key points: The keynote, live"
    body = message.body
    assert body.index("The M9 chip ships in May.") < body.index("AT&T & Verizon carry the phone.")
    assert "AT&amp;T &amp; Verizon" in html_of(message)  # escaped in HTML, as written in text
    assert KeyPointDelivery.objects.count() == 2


def test_an_update_pinned_later_is_sent_then(keynote, time_machine):
    follow("reader@example.com", keynote)
    at(time_machine, 5)
    entry = post(keynote, "Prices: from $999.")
    run()
    assert mail.outbox == []
    at(time_machine, 20)
    entry.is_key_point = True
    entry.save()
    run()
    [message] = mail.outbox
    assert message.subject == "Key point: Prices: from $999."


def test_a_key_point_unpinned_before_the_run_is_not_sent(keynote, time_machine):
    follow("reader@example.com", keynote)
    at(time_machine, 5)
    entry = post(keynote, "Rumour: a car.", key_point=True)
    entry.is_key_point = False
    entry.save()
    run()
    assert mail.outbox == []
    assert not KeyPointDelivery.objects.exists()


def test_key_points_made_before_the_follow_are_not_sent_but_one_pinned_after_it_is(keynote, time_machine):
    old_point = post(keynote, "Earlier: the keynote starts.", key_point=True)
    older_update = post(keynote, "Earlier: a plain update.")
    at(time_machine, 10)
    follow("reader@example.com", keynote)
    run()
    assert mail.outbox == []
    at(time_machine, 15)
    older_update.is_key_point = True  # posted before the follow, a key point since after it
    older_update.save()
    run()
    [message] = mail.outbox
    assert message.subject == "Key point: Earlier: a plain update."
    assert "the keynote starts" not in message.body
    assert not KeyPointDelivery.objects.filter(entry=old_point).exists()


def test_a_daily_follower_gets_no_key_point_alert_only_the_end_digest_in_the_daily_email(
    keynote, time_machine
):
    follow("daily@example.com", keynote, "daily", since=MONDAY_10 - datetime.timedelta(days=1))
    at(time_machine, 5)
    post(keynote, "The M9 chip ships in May.", key_point=True)
    post(keynote, "A plain update.")
    post(keynote, "Prices: from $999.", key_point=True)
    at(time_machine, 90)
    end(keynote)
    at(time_machine, 95)
    run()
    assert mail.outbox == []  # not their digest hour yet

    time_machine.move_to(MONDAY_10 + datetime.timedelta(hours=21), tick=False)  # Tuesday 07:00
    run()
    [message] = mail.outbox
    assert message.to == ["daily@example.com"]
    assert message.subject == "Live coverage ended: The keynote, live"
    body = message.body
    assert "9 March 2026, 09:00–11:30 UTC: 3 updates, 2 key points." in body
    assert body.index("The M9 chip ships in May.") < body.index("Prices: from $999.")
    assert "A plain update." not in body
    for entry in LiveEntry.objects.filter(is_key_point=True):
        assert f"{SITE}/news/keynote-live/#update-{entry.pk}" in body
    assert f"The whole coverage: {SITE}/news/keynote-live/" in body
    assert f'href="{SITE}/news/keynote-live/"' in html_of(message)
    assert not KeyPointDelivery.objects.exists()
    assert CoverageDigestDelivery.objects.count() == 1

    time_machine.move_to(MONDAY_10 + datetime.timedelta(days=2), tick=False)  # Wednesday's digest
    run()
    assert len(mail.outbox) == 1


def test_the_digest_goes_once_and_not_again_when_the_coverage_is_reopened_and_ended(keynote, time_machine):
    follow("reader@example.com", keynote)
    at(time_machine, 5)
    post(keynote, "The M9 chip ships in May.", key_point=True)
    run()
    at(time_machine, 60)
    end(keynote)
    run()
    run()
    [_, digest] = mail.outbox
    assert digest.subject == "Live coverage ended: The keynote, live"
    assert "1 update, 1 key point." in digest.body

    at(time_machine, 120)  # reopened: a key point of the new coverage still reaches the follower
    keynote.coverage = Article.Coverage.LIVE
    keynote.save()
    post(keynote, "One more thing: a watch.", key_point=True)
    run()
    assert mail.outbox[-1].subject == "Key point: One more thing: a watch."
    at(time_machine, 180)
    end(keynote)  # ended again: no second digest
    run()
    at(time_machine, 60 * 24)
    run()
    assert len(mail.outbox) == 3
    assert CoverageDigestDelivery.objects.count() == 1


def test_a_key_point_due_with_the_end_is_shown_once_in_the_digest(keynote, time_machine):
    follow("reader@example.com", keynote)
    at(time_machine, 5)
    point = post(keynote, "The M9 chip ships in May.", key_point=True)
    at(time_machine, 6)
    end(keynote)
    run()
    [message] = mail.outbox
    assert message.subject == "Live coverage ended: The keynote, live"
    assert message.body.count("The M9 chip ships in May.") == 1
    assert KeyPointDelivery.objects.filter(entry=point).count() == 1  # folded in: recorded as sent
    run()
    assert len(mail.outbox) == 1


def test_a_reader_who_follows_after_the_end_gets_the_digest_once(keynote, time_machine):
    """Decided: they asked for the story, and the digest is its summary (see due.py)."""
    post(keynote, "The M9 chip ships in May.", key_point=True)
    at(time_machine, 60)
    end(keynote)
    at(time_machine, 60 * 24 * 20)  # long after the end, past the look-back window
    follow("late@example.com", keynote)
    run()
    [message] = mail.outbox
    assert message.subject == "Live coverage ended: The keynote, live"
    assert "The M9 chip ships in May." in message.body
    run()
    assert len(mail.outbox) == 1


# -- Who gets nothing --------------------------------------------------------------------------------


def test_a_suppressed_address_gets_neither_key_points_nor_the_digest(keynote, time_machine):
    follow("bounced@example.com", keynote)
    follow("fine@example.com", keynote)
    Suppression.objects.create(email="bounced@example.com", reason="bounced", suppressed_at=timezone.now())
    at(time_machine, 5)
    post(keynote, "The M9 chip ships in May.", key_point=True)
    run()
    at(time_machine, 60)
    end(keynote)
    run()
    assert [message.to for message in mail.outbox] == [["fine@example.com"]] * 2
    assert not KeyPointDelivery.objects.filter(subscriber__email="bounced@example.com").exists()
    assert not CoverageDigestDelivery.objects.filter(subscriber__email="bounced@example.com").exists()


@pytest.mark.parametrize("hidden", ["draft", "scheduled"])
def test_a_draft_or_scheduled_story_sends_nothing(keynote, time_machine, hidden):
    follow("reader@example.com", keynote)
    if hidden == "draft":
        Article.objects.filter(pk=keynote.pk).update(status=Article.Status.DRAFT)
    else:
        Article.objects.filter(pk=keynote.pk).update(published_at=MONDAY_10 + datetime.timedelta(days=1))
    keynote.refresh_from_db()
    at(time_machine, 5)
    post(keynote, "The M9 chip ships in May.", key_point=True)
    at(time_machine, 60)
    end(keynote)
    run()
    assert mail.outbox == []
    assert not KeyPointDelivery.objects.exists() and not CoverageDigestDelivery.objects.exists()


# -- One email per run -------------------------------------------------------------------------------


def test_key_points_ride_along_with_a_tag_follow_s_new_story_in_one_email(keynote, time_machine):
    chips = TagFactory(name="Chips", slug="chips")
    follow("reader@example.com", keynote)
    follow("reader@example.com", chips)
    at(time_machine, 5)
    post(keynote, "The M9 chip ships in May.", key_point=True)
    ArticleFactory(title="A foundry opens", tags=[chips], published_at=timezone.now())
    run()
    [message] = mail.outbox
    assert message.subject == "Key point: The M9 chip ships in May."
    assert "The M9 chip ships in May." in message.body and "A foundry opens" in message.body
    assert "because you follow Chips" in message.body
    assert (Delivery.objects.count(), KeyPointDelivery.objects.count()) == (1, 1)
    run()
    assert len(mail.outbox) == 1


def test_the_end_digest_rides_in_the_daily_digest_of_stories(keynote, time_machine):
    chips = TagFactory(name="Chips", slug="chips")
    since = MONDAY_10 - datetime.timedelta(days=1)
    follow("daily@example.com", keynote, "daily", since=since)
    follow("daily@example.com", chips, "daily", since=since)
    at(time_machine, 5)
    post(keynote, "The M9 chip ships in May.", key_point=True)
    ArticleFactory(title="A foundry opens", tags=[chips], published_at=timezone.now())
    at(time_machine, 60)
    end(keynote)
    time_machine.move_to(MONDAY_10 + datetime.timedelta(hours=21), tick=False)
    run()
    [message] = mail.outbox
    assert message.subject == (
        "Your daily Conclave TechMedia digest: 1 new story; live coverage ended: The keynote, live"
    )
    assert "The M9 chip ships in May." in message.body and "A foundry opens" in message.body


@pytest.fixture
def batching_service(settings, monkeypatch):
    """Anymail's test backend, batching as a service does, three recipients a call."""
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    monkeypatch.setitem(services.BATCHING, "test", services.Batching(limit=3, field="%recipient.{}%"))


def test_a_batch_service_gets_a_key_point_once_per_call_with_each_recipient_s_links(
    keynote, time_machine, batching_service
):
    for n in range(4):
        follow(f"r{n}@example.com", keynote)
    at(time_machine, 5)
    post(keynote, "The M9 chip ships in May.", key_point=True)
    run()
    assert [len(call.to) for call in mail.outbox] == [3, 1]
    for call in mail.outbox:
        assert call.subject == "Key point: The M9 chip ships in May."
        assert "%recipient.unsubscribe_url%" in call.body
        assert "%recipient.manage_url_html%" in html_of(call)
        for address in call.to:
            fields = call.merge_data[address]
            assert fields["email"] == address
            assert call.merge_headers[address]["List-Unsubscribe"] == f"<{fields['unsubscribe_url']}>"
    assert KeyPointDelivery.objects.count() == 4


# -- Cost --------------------------------------------------------------------------------------------


def count_queries(followers, key_points, time_machine, minute):
    """The queries of one run for `followers` (immediate and daily) of a new live story with
    `key_points` key points made since they followed, which then ended."""
    at(time_machine, minute)
    story = ArticleFactory(published_at=timezone.now(), coverage=Article.Coverage.LIVE)
    for n in range(followers):
        follow(f"q{minute}-{n}@example.com", story, "immediate" if n % 3 else "daily")
    at(time_machine, minute + 1)
    for n in range(key_points):
        post(story, f"Key point {n}.", key_point=True)
        post(story, f"Update {n}.")
    with CaptureQueriesContext(connection) as queries:
        run()
    sent = len(mail.outbox)
    mail.outbox.clear()
    at(time_machine, minute + 2)
    end(story)
    with CaptureQueriesContext(connection) as ending:
        run()
    mail.outbox.clear()
    Subscriber.objects.all().delete()
    return len(queries), len(ending), sent


def test_queries_do_not_grow_with_key_points_and_per_follower_are_constant(db, time_machine):
    small, small_end, sent = count_queries(9, 3, time_machine, 0)
    assert sent == 6  # the immediate followers
    large, large_end, _ = count_queries(39, 3, time_machine, 10)
    more_points, more_points_end, _ = count_queries(9, 8, time_machine, 20)
    assert more_points == small and more_points_end == small_end  # nothing per key point
    # Per email sent: lock the subscriber row, insert its rows, plus the savepoint statements.
    assert (large - small) / 20 <= 5
    assert (large_end - small_end) / 20 <= 5  # the end digest (daily followers: at their digest hour)
    assert small <= 15 + 5 * 6


# -- Retention and the subscriber's data -------------------------------------------------------------


def test_prune_deletes_key_point_and_digest_deliveries_after_90_days(keynote, time_machine):
    reader = follow("reader@example.com", keynote)
    at(time_machine, 5)
    point = post(keynote, "The M9 chip ships in May.", key_point=True)
    at(time_machine, 60)
    end(keynote)
    run()
    assert (KeyPointDelivery.objects.count(), CoverageDigestDelivery.objects.count()) == (1, 1)
    data = data_about(reader)
    [sent_point] = data["key_point_deliveries"]
    assert sent_point["url"] == f"{SITE}/news/keynote-live/#update-{point.pk}"
    assert [d["story"] for d in data["live_coverage_digest_deliveries"]] == ["The keynote, live"]

    at(time_machine, 60 * 24 * 89)
    call_command("prune_subscribers", stdout=StringIO())
    assert (KeyPointDelivery.objects.count(), CoverageDigestDelivery.objects.count()) == (1, 1)
    at(time_machine, 60 * 24 * 91)
    out = StringIO()
    call_command("prune_subscribers", stdout=out)
    assert "1 key point and 1 live coverage digest deliveries" in out.getvalue()
    assert not KeyPointDelivery.objects.exists() and not CoverageDigestDelivery.objects.exists()


# -- End to end, through the story page and a real SMTP server ---------------------------------------


def test_following_a_live_story_on_its_page_brings_key_points_and_the_digest_over_smtp(
    client,
    smtp_server,  # noqa: F811 (the fixture of tests/test_notifications_smtp.py)
    time_machine,
):
    time_machine.move_to(MONDAY_10, tick=True)
    story = ArticleFactory(
        title="The keynote, live", slug="keynote-live", published_at=timezone.now(), coverage="live"
    )
    response = client.post(
        reverse("articles:story-follow", args=[story.slug]),
        {"email": "Reader@Example.com", "frequency": "immediate"},
    )
    assert response.status_code == 200
    [(_, confirmation)] = smtp_server.take()
    confirm_path = re.search(rf"{SITE}(/follow/confirm/[^/\s]+/)", text_of(confirmation)).group(1)
    assert client.post(confirm_path, {"frequency": "immediate"}).status_code == 200
    assert Follow.objects.get(article=story).frequency == "immediate"

    time_machine.move_to(MONDAY_10 + datetime.timedelta(minutes=5), tick=True)
    post(story, "Doors open.")
    point = post(story, "The M9 chip ships in May.", key_point=True)
    run()
    [(recipients, message)] = smtp_server.take()
    assert recipients == ("reader@example.com",)
    assert message["Subject"] == "Key point: The M9 chip ships in May."
    assert re.fullmatch(rf"<{SITE}/follow/unsubscribe/[^>\s]+/>", message["List-Unsubscribe"].strip())
    anchor = f"{SITE}/news/keynote-live/#update-{point.pk}"
    assert anchor in text_of(message) and "Doors open." not in text_of(message)
    assert f'href="{anchor}"' in message.get_body(("html",)).get_content()
    run()
    assert smtp_server.take() == []

    time_machine.move_to(MONDAY_10 + datetime.timedelta(minutes=60), tick=True)
    end(story)
    run()
    [(recipients, digest)] = smtp_server.take()
    assert digest["Subject"] == "Live coverage ended: The keynote, live"
    assert "2 updates, 1 key point." in text_of(digest)
    run()
    assert smtp_server.take() == []
