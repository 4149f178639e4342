"""The notification run for follows of tags, authors, sections and single stories, each at its own pace:
one email per subscriber per run, each story once, notes once, batches for the services that take them."""

import datetime
from io import StringIO

import pytest
from anymail.backends.test import EmailBackend as AnymailTestBackend
from anymail.message import AnymailRecipientStatus
from django.core import mail
from django.core.management import CommandError, call_command
from django.utils import timezone

from articles.following import services
from articles.models import Correction, Delivery, Follow, FollowRequest, NoteDelivery, Subscriber, Suppression
from tests.factories import ArticleFactory, AuthorFactory, SectionFactory, TagFactory

UTC = datetime.UTC


def run():
    out = StringIO()
    call_command("send_notifications", stdout=out, stderr=StringIO())
    return out.getvalue()


def subscribe(email, *follows, since=None):
    """A confirmed subscriber with follows given as (target, frequency), all since `since`."""
    since = since or timezone.now() - datetime.timedelta(days=2)
    subscriber = Subscriber.objects.create(email=email, confirmed_at=since)
    for target, frequency in follows:
        Follow.objects.create(subscriber=subscriber, frequency=frequency, **Follow.target_filter(target))
    Follow.objects.filter(subscriber=subscriber).update(created_at=since)
    return subscriber


def story(hours_ago=1, **kwargs):
    return ArticleFactory(published_at=timezone.now() - datetime.timedelta(hours=hours_ago), **kwargs)


@pytest.fixture
def ada(db):
    return AuthorFactory(name="Ada Brooks", slug="ada-brooks")


@pytest.fixture
def chips(db):
    return TagFactory(name="Chips", slug="chips")


def test_an_author_follow_and_a_section_follow_bring_their_stories(ada):
    hardware = SectionFactory(name="Hardware", slug="hardware")
    subscribe("author@example.com", (ada, "immediate"))
    subscribe("section@example.com", (hardware, "immediate"))
    by_ada = story(title="Ada's scoop", authors=[ada])
    story(title="Hardware news", section=hardware)
    story(title="Nobody follows this")
    run()
    by_address = {message.to[0]: message for message in mail.outbox}
    assert by_address["author@example.com"].subject == f"New from Ada Brooks: {by_ada.title}"
    assert by_address["section@example.com"].subject == "New on Hardware: Hardware news"
    assert len(mail.outbox) == 2


def test_each_follow_keeps_its_own_frequency(db, time_machine):
    """The issue's example: OpenAI daily, then Chips weekly; OpenAI stays daily."""
    monday_10 = datetime.datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
    time_machine.move_to(monday_10, tick=False)
    openai, chips = TagFactory(name="OpenAI"), TagFactory(name="Chips")
    subscribe("reader@example.com", (openai, "daily"), (chips, "weekly"), since=monday_10)
    Subscriber.objects.update(last_weekly_at=monday_10)
    story(hours_ago=0, title="OpenAI news", tags=[openai])
    story(hours_ago=0, title="Chips news", tags=[chips])
    time_machine.move_to(monday_10 + datetime.timedelta(days=1), tick=False)  # Tuesday 10:00
    run()
    [message] = mail.outbox
    assert message.subject == "Your daily Conclave TechMedia digest: 1 new story"
    assert "OpenAI news" in message.body and "Chips news" not in message.body
    time_machine.move_to(monday_10 + datetime.timedelta(days=7), tick=False)  # the next Monday
    run()
    assert mail.outbox[-1].subject == "Your weekly Conclave TechMedia digest: 1 new story"
    assert "Chips news" in mail.outbox[-1].body


def test_tag_daily_and_author_immediate_one_email_no_repeat_and_the_correction_once(ada, chips, time_machine):
    """The issue's end-to-end case, at the level of the run (tests/test_notifications_smtp.py does it
    through the pages and a real SMTP server)."""
    monday_10 = datetime.datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
    time_machine.move_to(monday_10, tick=False)
    subscribe("reader@example.com", (chips, "daily"), (ada, "immediate"), since=monday_10)
    scoop = story(hours_ago=0, title="Ada on chips", authors=[ada], tags=[chips])
    run()
    [alert] = mail.outbox
    assert alert.subject == "New from Ada Brooks: Ada on chips"
    assert "because you follow Ada Brooks and Chips" in alert.body  # the one due now first
    run()
    assert len(mail.outbox) == 1

    time_machine.move_to(monday_10 + datetime.timedelta(days=1), tick=False)  # Tuesday's digest
    run()
    assert len(mail.outbox) == 1  # the digest has nothing new: the story went out already
    assert Subscriber.objects.get().last_daily_at == monday_10 + datetime.timedelta(days=1)

    time_machine.move_to(monday_10 + datetime.timedelta(days=1, hours=2), tick=False)
    Correction.objects.create(article=scoop, note="The fab is in Oregon, not Ohio.")
    run()
    [_, correction] = mail.outbox
    assert correction.subject == "Correction: Ada on chips"
    assert "The fab is in Oregon, not Ohio." in correction.body
    assert "corrected since we sent it" in correction.body
    run()
    time_machine.move_to(monday_10 + datetime.timedelta(days=2), tick=False)
    run()
    assert len(mail.outbox) == 2
    assert NoteDelivery.objects.count() == 1 and Delivery.objects.count() == 1


def test_a_story_follow_gets_its_notes_once_and_not_those_from_before(chips):
    followed = story(hours_ago=48, title="Developing story", tags=[chips])
    Correction.objects.create(
        article=followed,
        kind="update",
        note="Old news.",
        noted_at=timezone.now() - datetime.timedelta(days=3),
    )
    subscribe("follower@example.com", (followed, "immediate"))
    run()
    assert mail.outbox == []  # following a story brings its notes, not the story
    Correction.objects.create(article=followed, kind="update", note="The vote passed.")
    run()
    [message] = mail.outbox
    assert message.subject == "Update: Developing story"
    assert "The vote passed." in message.body and "Old news." not in message.body
    assert "a story you follow" in message.body
    run()
    assert len(mail.outbox) == 1


def test_a_note_not_due_yet_rides_along_with_the_next_email(chips, ada, time_machine):
    monday_10 = datetime.datetime(2026, 3, 9, 10, 0, tzinfo=UTC)
    time_machine.move_to(monday_10, tick=False)
    subscribe("reader@example.com", (chips, "weekly"), (ada, "immediate"), since=monday_10)
    Subscriber.objects.update(last_weekly_at=monday_10)
    Delivery.objects.create(subscriber=Subscriber.objects.get(), article=(sent := story(tags=[chips])))
    Delivery.objects.update(sent_at=monday_10 - datetime.timedelta(minutes=30))
    Correction.objects.create(article=sent, note="A figure was wrong.")
    run()
    assert mail.outbox == []  # its story's follow is weekly: not due yet
    story(hours_ago=0, title="Ada again", authors=[ada])
    run()
    [message] = mail.outbox
    assert "Ada again" in message.body and "A figure was wrong." in message.body


def test_a_suppressed_address_gets_nothing(chips):
    subscribe("bounced@example.com", (chips, "immediate"))
    subscribe("fine@example.com", (chips, "immediate"))
    Suppression.objects.create(email="bounced@example.com", reason="bounced", suppressed_at=timezone.now())
    Suppression.objects.create(email="fine@example.com", soft_bounces=1)  # counted, not suppressed
    story(tags=[chips])
    run()
    assert [message.to for message in mail.outbox] == [["fine@example.com"]]


# --- batches ----------------------------------------------------------------------------------------


@pytest.fixture
def batching_service(settings, monkeypatch):
    """Anymail's test backend, batching as a service does, three recipients a call."""
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    monkeypatch.setitem(services.BATCHING, "test", services.Batching(limit=3, field="%recipient.{}%"))


def test_a_batch_service_gets_one_call_per_limit_with_each_recipients_own_links(chips, batching_service):
    readers = [subscribe(f"r{n}@example.com", (chips, "immediate")) for n in range(7)]
    subscribe("other@example.com", (chips, "daily"))  # another email: its own call
    story(tags=[chips], title="Big chip news")
    output = run()
    *calls, digest = mail.outbox
    assert [len(call.to) for call in calls] == [3, 3, 1]
    assert digest.to == ["other@example.com"]
    assert "Sent 8 email(s)" in output
    for call in calls:
        assert "%recipient.unsubscribe_url%" in call.body and "%recipient.email%" in call.body
        assert "%recipient.manage_url_html%" in call.alternatives[0][0]
        for address in call.to:
            fields = call.merge_data[address]
            assert fields["email"] == address
            assert call.merge_headers[address]["List-Unsubscribe"] == f"<{fields['unsubscribe_url']}>"
    links = {call.merge_data[a]["unsubscribe_url"] for call in calls for a in call.to}
    assert len(links) == 7
    assert Delivery.objects.filter(subscriber__in=readers).count() == 7
    mail.outbox.clear()
    run()
    assert mail.outbox == []


def test_a_failed_batch_call_records_nothing_and_the_next_run_sends_it(chips, batching_service, monkeypatch):
    for n in range(4):
        subscribe(f"r{n}@example.com", (chips, "immediate"))
    story(tags=[chips])
    real = AnymailTestBackend.post_to_esp

    def unavailable(self, payload, message):
        raise OSError("connection reset")

    monkeypatch.setattr(AnymailTestBackend, "post_to_esp", unavailable)
    with pytest.raises(Exception, match="could not be sent"):
        run()
    assert not Delivery.objects.exists()
    monkeypatch.setattr(AnymailTestBackend, "post_to_esp", real)
    run()
    assert Delivery.objects.count() == 4


def test_recipients_a_service_refuses_in_a_batch_are_suppressed_and_not_recorded(
    chips, batching_service, monkeypatch
):
    for n in range(3):
        subscribe(f"r{n}@example.com", (chips, "immediate"))
    story(tags=[chips])
    real = AnymailTestBackend.post_to_esp

    def refusing_r1(self, payload, message):
        response = real(self, payload, message)
        response["recipient_status"]["r1@example.com"] = AnymailRecipientStatus(None, "rejected")
        return response

    monkeypatch.setattr(AnymailTestBackend, "post_to_esp", refusing_r1)
    run()
    assert sorted(Delivery.objects.values_list("subscriber__email", flat=True)) == [
        "r0@example.com",
        "r2@example.com",
    ]
    suppression = Suppression.objects.get()
    assert (suppression.email, suppression.reason) == ("r1@example.com", "rejected")
    assert suppression.suppressed_at is not None


# --- retention --------------------------------------------------------------------------------------


def test_prune_deletes_what_is_past_its_window_and_keeps_the_rest(chips, time_machine):
    from articles.following.tokens import new_request

    now = timezone.now()
    reader = subscribe("reader@example.com", (chips, "immediate"))
    Subscriber.objects.create(email="never@example.com")  # unconfirmed, from before follow requests
    new_request(chips, "pending@example.com", "daily")
    old, recent = story(hours_ago=24 * 100, tags=[chips]), story(tags=[chips])
    Delivery.objects.create(subscriber=reader, article=old)
    Delivery.objects.create(subscriber=reader, article=recent)
    Delivery.objects.filter(article=old).update(sent_at=now - datetime.timedelta(days=91))
    note = Correction.objects.create(article=old, note="Fixed.")
    NoteDelivery.objects.create(subscriber=reader, correction=note)
    Suppression.objects.create(email="soft@example.com", soft_bounces=1)
    Suppression.objects.create(email="hard@example.com", reason="bounced", suppressed_at=now)
    Suppression.objects.update(last_event_at=now - datetime.timedelta(days=31))

    out = StringIO()
    call_command("prune_subscribers", stdout=out)
    assert "0 expired follow request(s), 0 unconfirmed" in out.getvalue()  # not a week old yet
    assert list(Delivery.objects.values_list("article", flat=True)) == [recent.pk]
    assert NoteDelivery.objects.count() == 1
    assert list(Suppression.objects.values_list("email", flat=True)) == ["hard@example.com"]

    time_machine.move_to(now + datetime.timedelta(days=8))
    call_command("prune_subscribers", stdout=StringIO())
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["reader@example.com"]
    assert not FollowRequest.objects.exists()


def test_parts_of_a_run_share_the_subscribers_and_together_send_each_once(chips):
    for n in range(10):
        subscribe(f"r{n}@example.com", (chips, "immediate"))
    story(tags=[chips])
    for number in (1, 2, 3):
        call_command("send_notifications", "--part", f"{number}/3", stdout=StringIO())
    assert sorted(message.to[0] for message in mail.outbox) == sorted(f"r{n}@example.com" for n in range(10))
    with pytest.raises(CommandError, match="K must be between 1 and N"):
        call_command("send_notifications", "--part", "4/3", stdout=StringIO())
