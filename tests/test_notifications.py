"""send_notifications: who gets what and when, one email per run, nothing twice, failures retried."""

import datetime
import re
import smtplib
from io import StringIO

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from articles.following import due, sending
from articles.following.tokens import new_request, read_token
from articles.models import Article, Delivery, Follow, FollowRequest, Subscriber
from tests.factories import ArticleFactory, TagFactory

UTC = datetime.UTC
SITE = "https://news.example.com"


@pytest.fixture
def chips(db):
    return TagFactory(name="Chips", slug="chips")


@pytest.fixture
def android(db):
    return TagFactory(name="Android", slug="android")


def make_subscriber(email, *tags, frequency="immediate", since=None, confirmed=True, last_digest_at=None):
    """A subscriber created, confirmed and following `tags` since `since` (default: two days ago)."""
    since = since or timezone.now() - datetime.timedelta(days=2)
    subscriber = Subscriber.objects.create(email=email, confirmed_at=since if confirmed else None)
    if frequency != "immediate":
        Subscriber.objects.filter(pk=subscriber.pk).update(**{f"last_{frequency}_at": last_digest_at})
    Follow.objects.bulk_create(Follow(subscriber=subscriber, tag=tag, frequency=frequency) for tag in tags)
    Follow.objects.filter(subscriber=subscriber).update(created_at=since)
    Subscriber.objects.filter(pk=subscriber.pk).update(created_at=since)
    subscriber.refresh_from_db()
    return subscriber


def story(*tags, hours_ago=1, **kwargs):
    return ArticleFactory(
        tags=list(tags), published_at=timezone.now() - datetime.timedelta(hours=hours_ago), **kwargs
    )


def run(**options):
    out = StringIO()
    call_command("send_notifications", stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def html_of(message):
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return html


# --- who gets what ----------------------------------------------------------------------------------


def test_unconfirmed_subscribers_get_nothing(chips):
    make_subscriber("pending@example.com", chips, confirmed=False)
    story(chips)
    run()
    assert mail.outbox == []
    assert not Delivery.objects.exists()


def test_one_article_with_two_followed_tags_is_one_email_and_only_once(chips, android):
    reader = make_subscriber("reader@example.com", chips, android)
    article = story(chips, android, title="Fab output doubles")

    run()
    [message] = mail.outbox
    assert message.to == ["reader@example.com"]
    assert message.subject == "New on Android: Fab output doubles"
    assert "because you follow Android and Chips" in message.body  # both matching tags named
    assert f"{SITE}/news/{article.slug}/" in message.body
    assert list(Delivery.objects.values_list("subscriber", "article")) == [(reader.pk, article.pk)]

    run()
    assert len(mail.outbox) == 1
    assert Delivery.objects.count() == 1


def test_several_new_articles_make_one_email_per_subscriber_and_later_ones_a_new_one(chips, android):
    make_subscriber("reader@example.com", chips, android)
    make_subscriber("other@example.com", android)
    older = story(chips, hours_ago=3, title="Older chip story")
    newer = story(android, hours_ago=2, title="Newer phone story")
    both = story(chips, android, hours_ago=1, title="Newest story on both")

    run()
    by_recipient = {message.to[0]: message for message in mail.outbox}
    assert len(mail.outbox) == 2
    reader = by_recipient["reader@example.com"]
    assert reader.subject == "3 new stories: Android and Chips"
    positions = [reader.body.index(article.title) for article in (both, newer, older)]
    assert positions == sorted(positions)  # newest first
    assert by_recipient["other@example.com"].subject == "2 new stories: Android"
    assert Delivery.objects.count() == 5

    mail.outbox.clear()
    fresh = story(chips, hours_ago=0, title="Fresh chip story")
    run()
    [message] = mail.outbox
    assert message.to == ["reader@example.com"]
    assert message.subject == "New on Chips: Fresh chip story"
    assert older.title not in message.body
    assert Delivery.objects.filter(article=fresh).count() == 1


def test_scheduled_article_is_sent_once_its_time_has_come(chips, time_machine):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    make_subscriber("reader@example.com", chips)
    ArticleFactory(tags=[chips], title="Embargoed", published_at=start + datetime.timedelta(hours=2))

    run()
    assert mail.outbox == []

    time_machine.move_to(start + datetime.timedelta(hours=2, minutes=1), tick=False)
    run()
    [message] = mail.outbox
    assert message.subject == "New on Chips: Embargoed"


def test_drafts_are_never_sent(chips):
    make_subscriber("reader@example.com", chips)
    story(chips, status=Article.Status.DRAFT)
    run()
    assert mail.outbox == []


def test_stories_older_than_the_follow_or_the_confirmation_are_not_sent(chips, android):
    now = timezone.now()
    # Followed two days ago, but confirmed only an hour ago.
    late = make_subscriber("late@example.com", chips, since=now - datetime.timedelta(days=2))
    Subscriber.objects.filter(pk=late.pk).update(confirmed_at=now - datetime.timedelta(hours=1))
    # Confirmed long ago; started following Chips an hour ago, Android two days ago.
    fan = make_subscriber("fan@example.com", android, since=now - datetime.timedelta(days=10))
    Follow.objects.create(subscriber=fan, tag=chips)
    Follow.objects.filter(subscriber=fan, tag=chips).update(created_at=now - datetime.timedelta(hours=1))

    story(chips, android, hours_ago=3, title="Before the confirmation and the Chips follow")
    story(chips, hours_ago=2, title="Chips before that follow")

    run()
    [message] = mail.outbox
    assert message.to == ["fan@example.com"]
    # Only through the follow that predates it: Android, not Chips.
    assert message.subject == "New on Android: Before the confirmation and the Chips follow"
    assert "because you follow Android\n" in message.body


def test_articles_beyond_the_look_back_window_are_ignored(chips):
    make_subscriber("reader@example.com", chips, since=timezone.now() - datetime.timedelta(days=30))
    story(chips, hours_ago=24 * (due.LOOKBACK_DAYS + 1))
    run()
    assert mail.outbox == []


def test_a_subject_stays_on_one_line(chips):
    make_subscriber("reader@example.com", chips)
    story(chips, title="Two\nlines")
    run()
    assert mail.outbox[0].subject == "New on Chips: Two lines"


# --- digests ----------------------------------------------------------------------------------------


def test_daily_digest_once_per_digest_day(chips, android, time_machine):
    monday_10 = datetime.datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
    time_machine.move_to(monday_10, tick=False)
    reader = make_subscriber(
        "daily@example.com", chips, android, frequency="daily", since=monday_10 - datetime.timedelta(days=2)
    )
    story(chips, hours_ago=30, title="Saturday story")
    story(android, hours_ago=2, title="Monday story")

    run()  # never had a digest, confirmed before today's 06:00: due
    [message] = mail.outbox
    assert message.subject == "Your daily Conclave TechMedia digest: 2 new stories"
    assert "Saturday story" in message.body and "Monday story" in message.body
    reader.refresh_from_db()
    assert reader.last_daily_at == monday_10
    assert Delivery.objects.count() == 2

    story(chips, hours_ago=0, title="Monday lunch story")
    time_machine.move_to(monday_10 + datetime.timedelta(hours=5), tick=False)
    run()
    time_machine.move_to(datetime.datetime(2026, 3, 10, 5, 59, tzinfo=UTC), tick=False)
    run()
    assert len(mail.outbox) == 1  # not before Tuesday's digest hour

    time_machine.move_to(datetime.datetime(2026, 3, 10, 6, 1, tzinfo=UTC), tick=False)
    run()
    assert len(mail.outbox) == 2
    assert mail.outbox[1].subject == "Your daily Conclave TechMedia digest: 1 new story"
    assert "Monday lunch story" in mail.outbox[1].body and "Saturday story" not in mail.outbox[1].body
    run()
    assert len(mail.outbox) == 2


@pytest.mark.parametrize("other_news", [False, True], ids=["no-news-at-all", "news-on-other-tags"])
def test_a_due_digest_with_nothing_new_sends_nothing_and_waits_for_the_next_day(
    chips, android, time_machine, other_news
):
    tuesday_7 = datetime.datetime(2026, 3, 10, 7, 0, tzinfo=UTC)
    time_machine.move_to(tuesday_7, tick=False)
    if other_news:
        make_subscriber("phones@example.com", android)
        story(android, hours_ago=1)
    reader = make_subscriber(
        "daily@example.com",
        chips,
        frequency="daily",
        since=tuesday_7 - datetime.timedelta(days=5),
        last_digest_at=tuesday_7 - datetime.timedelta(days=1),
    )
    run()
    assert [m.to for m in mail.outbox] == ([["phones@example.com"]] if other_news else [])
    mail.outbox.clear()
    reader.refresh_from_db()
    assert reader.last_daily_at == tuesday_7  # today's digest is done, though empty

    story(chips, hours_ago=0, title="Tuesday story")
    time_machine.move_to(tuesday_7 + datetime.timedelta(hours=1), tick=False)
    run()
    assert mail.outbox == []  # waits for Wednesday's digest, not sent as an alert
    time_machine.move_to(tuesday_7 + datetime.timedelta(days=1), tick=False)
    run()
    [message] = mail.outbox
    assert "Tuesday story" in message.body


def test_a_new_daily_subscriber_waits_for_the_next_digest_hour(chips, time_machine):
    monday_10 = datetime.datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
    time_machine.move_to(monday_10, tick=False)
    make_subscriber(
        "new@example.com", chips, frequency="daily", since=monday_10 - datetime.timedelta(hours=1)
    )
    story(chips, hours_ago=0)
    run()
    assert mail.outbox == []
    time_machine.move_to(monday_10 + datetime.timedelta(hours=21), tick=False)  # Tuesday 07:00
    run()
    assert len(mail.outbox) == 1


def test_weekly_digest_every_seven_digest_days(chips, time_machine):
    wednesday = datetime.datetime(2026, 3, 4, 6, 5, tzinfo=UTC)
    reader = make_subscriber(
        "weekly@example.com",
        chips,
        frequency="weekly",
        since=wednesday - datetime.timedelta(days=10),
        last_digest_at=wednesday,
    )
    time_machine.move_to(wednesday + datetime.timedelta(days=1), tick=False)
    story(chips, hours_ago=1, title="Thursday story")
    time_machine.move_to(wednesday + datetime.timedelta(days=3), tick=False)
    story(chips, hours_ago=1, title="Saturday story")

    time_machine.move_to(datetime.datetime(2026, 3, 10, 23, 0, tzinfo=UTC), tick=False)  # next Tuesday
    run()
    time_machine.move_to(datetime.datetime(2026, 3, 11, 5, 59, tzinfo=UTC), tick=False)
    run()
    assert mail.outbox == []

    time_machine.move_to(datetime.datetime(2026, 3, 11, 6, 2, tzinfo=UTC), tick=False)  # Wednesday again
    run()
    [message] = mail.outbox
    assert message.subject == "Your weekly Conclave TechMedia digest: 2 new stories"
    assert "Your weekly digest" in html_of(message)
    reader.refresh_from_db()
    assert reader.last_weekly_at == datetime.datetime(2026, 3, 11, 6, 2, tzinfo=UTC)
    run()
    assert len(mail.outbox) == 1


def test_digest_cutoffs():
    cutoffs = due.digest_cutoffs(datetime.datetime(2026, 3, 11, 5, 59, tzinfo=UTC))
    daily, weekly = cutoffs["daily"], cutoffs["weekly"]
    assert daily == datetime.datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
    assert weekly == datetime.datetime(2026, 3, 4, 6, 0, tzinfo=UTC)
    daily = due.digest_cutoffs(datetime.datetime(2026, 3, 11, 6, 0, tzinfo=UTC))["daily"]
    assert daily == datetime.datetime(2026, 3, 11, 6, 0, tzinfo=UTC)


# --- the message ------------------------------------------------------------------------------------


def test_message_parts_links_image_and_unsubscribe_headers(chips, article_with_image):
    reader = make_subscriber("reader@example.com", chips)
    article_with_image.tags.set([chips])

    run()
    [message] = mail.outbox
    html = html_of(message)
    url = f"{SITE}/news/{article_with_image.slug}/"
    assert url in message.body and f'href="{url}"' in html
    assert "A short summary of the story." in message.body and "A short summary of the story." in html

    unsubscribe = message.extra_headers["List-Unsubscribe"]
    assert re.fullmatch(rf"<{SITE}/follow/unsubscribe/[^>\s]+/>", unsubscribe)
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = unsubscribe.rstrip("/>").rsplit("/", 1)[-1]
    assert read_token(token, "unsubscribe") == reader
    assert unsubscribe[1:-1] in message.body and unsubscribe[1:-1] in html
    assert f"{SITE}/follow/manage/" in message.body and f'href="{SITE}/follow/manage/' in html

    image = re.search(r"<img [^>]*>", html).group(0)
    assert re.search(rf'src="{SITE}/media/[^"]+\.jpg"', image)
    assert 'alt="A blue test card"' in image and 'width="600"' in image
    assert f'href="{SITE}/tags/chips/"' in html

    raw = message.message()
    assert raw["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert raw.is_multipart()
    assert not re.search(r'(src|href)="/', html)  # nothing relative


def test_list_email_groups_stories_by_the_follows_that_brought_them(chips, android):
    make_subscriber("reader@example.com", chips, android)
    story(chips, hours_ago=3, title="Chip story")
    story(android, hours_ago=2, title="Phone story")
    story(chips, android, hours_ago=1, title="Chip phone story")
    run()
    body = mail.outbox[0].body
    assert body.index("Because you follow Android and Chips\n\n* Chip phone story") < body.index(
        "Because you follow Android\n\n* Phone story"
    )
    assert "Because you follow Chips\n\n* Chip story" in body
    assert html_of(mail.outbox[0]).count(f'href="{SITE}/news/') >= 2


# --- dry run, failures ------------------------------------------------------------------------------


def test_dry_run_sends_and_records_nothing(chips):
    make_subscriber("reader@example.com", chips)
    digest = make_subscriber("daily@example.com", chips, frequency="daily")
    article = story(chips)

    output = run(dry_run=True)
    assert f"would send to reader@example.com: New on Chips: {article.title} [{article.slug}]" in output
    assert "would send to daily@example.com: Your daily Conclave TechMedia digest: 1 new story" in output
    assert "Would send 2 email(s)" in output
    assert mail.outbox == []
    assert not Delivery.objects.exists()
    digest.refresh_from_db()
    assert digest.last_daily_at is None


@pytest.fixture
def failing_for(monkeypatch):
    """Make the mail backend refuse messages to the given addresses, as an SMTP server would."""
    refused = set()
    real_send = EmailBackend.send_messages

    def send_messages(self, messages):
        for message in messages:
            if set(message.to) & refused:
                raise smtplib.SMTPRecipientsRefused({message.to[0]: (550, b"5.1.1 Mailbox unavailable")})
        return real_send(self, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", send_messages)
    return refused


def test_a_send_failure_records_nothing_for_that_subscriber_and_the_next_run_retries(chips, failing_for):
    for name in ("a", "b", "c", "d", "e"):
        make_subscriber(f"{name}@example.com", chips)
    digest = make_subscriber("daily@example.com", chips, frequency="daily")
    article = story(chips)
    failing_for.update({"c@example.com", "daily@example.com"})

    with pytest.raises(CommandError, match="2 email"):
        run()
    assert sorted(m.to[0] for m in mail.outbox) == [f"{n}@example.com" for n in "abde"]
    assert sorted(Delivery.objects.values_list("subscriber__email", flat=True)) == [
        f"{n}@example.com" for n in "abde"
    ]
    digest.refresh_from_db()
    assert digest.last_daily_at is None  # still due

    failing_for.clear()
    mail.outbox.clear()
    run()
    assert sorted(m.to[0] for m in mail.outbox) == ["c@example.com", "daily@example.com"]
    assert Delivery.objects.filter(article=article).count() == 6
    run()
    assert len(mail.outbox) == 2


def test_the_run_stops_when_the_mail_server_looks_down(chips, failing_for, monkeypatch):
    monkeypatch.setattr(sending, "MAX_CONSECUTIVE_FAILURES", 3)
    for n in range(6):
        make_subscriber(f"r{n}@example.com", chips)
        failing_for.add(f"r{n}@example.com")
    story(chips)
    summary = sending.send_due_notifications()
    assert summary.failed == 3 and summary.stopped_early and not summary.ok
    assert not Delivery.objects.exists()


def test_an_unreachable_mail_server_stops_the_run_at_once(chips, monkeypatch):
    for n in range(3):
        make_subscriber(f"r{n}@example.com", chips)
    story(chips)

    def refuse(self):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(EmailBackend, "open", refuse)
    with pytest.raises(CommandError, match="stopped early"):
        run()
    assert mail.outbox == []
    assert not Delivery.objects.exists()


def test_one_connection_serves_many_messages(chips, monkeypatch):
    monkeypatch.setattr(sending, "MESSAGES_PER_CONNECTION", 2)
    opened = []
    real_get_connection = sending.get_connection

    def counting_get_connection(**kwargs):
        opened.append(kwargs)
        return real_get_connection(**kwargs)

    monkeypatch.setattr(sending, "get_connection", counting_get_connection)
    for n in range(5):
        make_subscriber(f"r{n}@example.com", chips)
    story(chips)
    run()
    assert len(mail.outbox) == 5
    assert len(opened) == 3  # 2 + 2 + 1
    assert opened[0]["timeout"] == sending.EMAIL_TIMEOUT  # a hung server cannot hang the run


def test_a_subscriber_who_left_during_the_run_is_skipped(chips, monkeypatch):
    reader = make_subscriber("reader@example.com", chips)
    make_subscriber("other@example.com", chips)
    story(chips)
    real_build = sending.build_message

    def build_then_leave(subscriber, matches, **kwargs):
        if subscriber.pk == reader.pk:
            Subscriber.objects.filter(pk=reader.pk).delete()  # unsubscribed while the run was at work
        return real_build(subscriber, matches, **kwargs)

    monkeypatch.setattr(sending, "build_message", build_then_leave)
    summary = sending.send_due_notifications()
    assert summary.skipped == 1 and summary.emails == 1 and summary.ok
    assert [m.to for m in mail.outbox] == [["other@example.com"]]


# Stored before the follow form refused such addresses (issue 15, finding 2).
UNMAILABLE = [
    '"x{n}\x0bBcc:evil@example.net"@example.com',  # Python's email package refuses it (HeaderParseError)
    '"z{n}\x0c<b>injected</b>"@evil.example',  # it would take a line break into the To: header
    "reader{n}@ex\u06aa.com",  # a domain IDNA cannot encode (UnicodeError)
    "reader{n}@exa\u200bmple.com",  # an invisible character (IDNA drops it: mail to example.com)
]


def test_an_address_no_mail_can_go_to_is_skipped_and_logged_and_the_rest_go_out(chips, caplog):
    # More of them, one after another, than the failures in a row that stop a run.
    unmailable = [make_subscriber(address.format(n=n), chips) for n in range(3) for address in UNMAILABLE]
    assert len(unmailable) > sending.MAX_CONSECUTIVE_FAILURES
    reader = make_subscriber("reader@example.com", chips)
    article = story(chips)

    dry = run(dry_run=True)
    assert "would send to reader@example.com" in dry and dry.count("would send to") == 1
    output = run()  # no CommandError: nothing a later run could do better failed
    assert [message.to for message in mail.outbox] == [["reader@example.com"]]
    assert list(Delivery.objects.values_list("subscriber", "article")) == [(reader.pk, article.pk)]
    for person in unmailable:
        assert f"SKIPPED subscriber {person.pk}: no mail can be addressed to it as written" in output
        assert f"Subscriber {person.pk} (" in caplog.text
    assert "12 address(es) skipped that no mail can go to as written" in output
    # The addresses themselves never reach the output or the log, where their line breaks would land.
    for text in (dry, output, caplog.text):
        assert not any(character in text for character in "\x0b\x0c\u06aa\u200b")

    mail.outbox.clear()
    assert "12 address(es) skipped" in run()
    assert mail.outbox == []


def test_each_run_deletes_follow_requests_whose_links_have_expired(chips, time_machine):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    new_request(chips, "old@example.com", "daily")
    time_machine.move_to(start + datetime.timedelta(days=7, minutes=1), tick=False)
    new_request(chips, "fresh@example.com", "daily")
    assert "expired" not in run(dry_run=True)
    assert FollowRequest.objects.count() == 2
    assert "1 expired follow request(s) deleted." in run()
    assert list(FollowRequest.objects.values_list("email", flat=True)) == ["fresh@example.com"]


def test_progress_and_summary_output(chips):
    for n in range(sending.PROGRESS_EVERY + 5):
        make_subscriber(f"r{n:03}@example.com", chips)
    story(chips)
    output = run()
    assert (
        f"  {sending.PROGRESS_EVERY}/{sending.PROGRESS_EVERY + 5} checked, {sending.PROGRESS_EVERY} sent"
        in output
    )
    assert f"Sent {sending.PROGRESS_EVERY + 5} email(s)" in output


# --- cost -------------------------------------------------------------------------------------------


def count_queries(subscribers, tags):
    for n in range(subscribers):
        make_subscriber(f"q{subscribers}-{n}@example.com", *tags, frequency="immediate" if n % 3 else "daily")
    for hours in (1, 2, 3):
        story(*tags, hours_ago=hours)
    with CaptureQueriesContext(connection) as queries:
        run()
    assert len(mail.outbox) == subscribers
    mail.outbox.clear()
    Delivery.objects.all().delete()
    Subscriber.objects.all().delete()
    return len(queries)


def test_queries_per_subscriber_are_constant(chips, android):
    small, large = count_queries(10, [chips, android]), count_queries(50, [chips, android])
    per_subscriber = (large - small) / 40
    # Lock the subscriber row, insert its deliveries, (digest) move last_digest_at, plus the
    # savepoint/transaction statements; no query per article or per tag.
    assert per_subscriber <= 5
    assert small <= 12 + 5 * 10
