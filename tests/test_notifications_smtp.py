"""send_notifications end to end, against a real SMTP server (aiosmtpd) listening on 127.0.0.1.

Readers subscribe through the site's own follow pages (the confirmation mail also goes through the
SMTP server), then alerts and digests are sent over SMTP and read back as the server received them.
"""

import datetime
import email
import logging
import re
import socket
import threading
from collections import Counter
from email import policy
from io import StringIO

import pytest
from aiosmtpd.controller import Controller
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from articles.models import Article, Correction, Delivery, Subscriber
from tests.factories import ArticleFactory, AuthorFactory, TagFactory

SITE = "https://news.example.com"


class Mailbox:
    """An aiosmtpd handler keeping what it accepts; it can refuse the n-th message it is given."""

    def __init__(self):
        self.messages = []
        self.received = 0
        self.refuse_nth = None
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            self.received += 1
            if self.received == self.refuse_nth:
                return "550 5.7.1 Message refused by the test server"
            parsed = email.message_from_bytes(envelope.original_content, policy=policy.default)
            self.messages.append((tuple(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"

    def take(self):
        """Everything received since the last call."""
        with self._lock:
            messages, self.messages = self.messages, []
        return messages


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_server(db, caplog):
    caplog.set_level(logging.WARNING, logger="mail.log")  # aiosmtpd logs every SMTP command at INFO
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        with override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=controller.port,
            EMAIL_HOST_USER="",
            EMAIL_HOST_PASSWORD="",
            EMAIL_USE_TLS=False,
            EMAIL_USE_SSL=False,
            EMAIL_TIMEOUT=10,
        ):
            yield mailbox
    finally:
        controller.stop()


def text_of(message):
    return message.get_body(("plain",)).get_content()


def follow_through_the_site(client, mailbox, address, tags, frequency):
    """Follow the first tag from its page, confirm by the emailed link, add the others by theirs."""
    first, *others = tags
    response = client.post(
        reverse("articles:follow", args=[first.slug]), {"email": address, "frequency": frequency}
    )
    assert response.status_code == 200
    [(_, confirmation)] = mailbox.take()
    confirm_path = re.search(rf"{SITE}(/follow/confirm/[^/\s]+/)", text_of(confirmation)).group(1)
    assert client.post(confirm_path, {"frequency": frequency}).status_code == 200
    for tag in others:
        client.post(reverse("articles:follow", args=[tag.slug]), {"email": address, "frequency": frequency})
        [(_, settings_mail)] = mailbox.take()
        manage_path = re.search(rf"{SITE}(/follow/manage/[^/\s]+/)", text_of(settings_mail)).group(1)
        response = client.post(manage_path, {"frequency": frequency, "add": tag.slug})
        assert response.status_code == 302
    subscriber = Subscriber.objects.get(email=address.lower())
    assert subscriber.is_confirmed
    assert sorted(subscriber.follows.values_list("tag__slug", flat=True)) == sorted(t.slug for t in tags)
    return subscriber


def publish(*tags, **kwargs):
    article = ArticleFactory(status=Article.Status.DRAFT, published_at=None, **kwargs)
    article.tags.set(tags)
    article.status = Article.Status.PUBLISHED
    article.save()  # publishing sets published_at to now
    return article


def send():
    out = StringIO()
    call_command("send_notifications", stdout=out, stderr=StringIO())
    return out.getvalue()


def test_alert_and_digest_over_smtp(client, smtp_server, time_machine):
    # Mid-morning UTC, well clear of the 06:00 digest hour, whenever the suite runs.
    time_machine.move_to(datetime.datetime(2026, 3, 9, 10, 0, tzinfo=datetime.UTC), tick=True)
    # Topics whose pages are open before any story (Tag.show_early): readers follow them first.
    chips = TagFactory(name="Chips", slug="chips", show_early=True)
    android = TagFactory(name="Android", slug="android", show_early=True)
    cloud = TagFactory(name="Cloud", slug="cloud", show_early=True)
    follow_through_the_site(client, smtp_server, "Reader@Example.com", [chips, android], "immediate")
    follow_through_the_site(client, smtp_server, "digest@example.com", [android, cloud], "daily")

    article = publish(chips, android, title="Both tags at once")
    send()
    [(recipients, message)] = smtp_server.take()
    assert recipients == ("reader@example.com",)
    assert message["Subject"] == "New on Android: Both tags at once"
    # A URL this long is folded onto a continuation line; unfolded, it is the one-click address.
    assert re.fullmatch(rf"<{SITE}/follow/unsubscribe/[^>\s]+/>", message["List-Unsubscribe"].strip())
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"{SITE}/news/{article.slug}/" in text_of(message)
    assert f'href="{SITE}/news/{article.slug}/"' in message.get_body(("html",)).get_content()

    send()
    assert smtp_server.take() == []

    # The daily reader, confirmed today, gets their first digest at the next digest hour.
    time_machine.move_to(timezone.now() + datetime.timedelta(days=1), tick=True)
    send()
    [(recipients, digest)] = smtp_server.take()
    assert recipients == ("digest@example.com",)
    assert digest["Subject"] == "Your daily Conclave TechMedia digest: 1 new story"
    assert "Both tags at once" in text_of(digest)
    send()
    assert smtp_server.take() == []
    assert Delivery.objects.count() == 2


def test_a_refused_message_is_retried_by_the_next_run_and_nobody_gets_two(smtp_server):
    chips = TagFactory(name="Chips", slug="chips")
    since = timezone.now() - datetime.timedelta(days=1)
    addresses = [f"reader{n}@example.com" for n in range(5)]
    for address in addresses:
        # Five readers at once: straight into the database, the follow pages are covered above.
        subscriber = Subscriber.objects.create(email=address, confirmed_at=since)
        subscriber.follows.create(tag=chips)
    publish(chips, title="Five readers")

    smtp_server.refuse_nth = 3
    with pytest.raises(CommandError, match="1 email"):
        send()
    first = smtp_server.take()
    assert len(first) == 4
    assert Delivery.objects.count() == 4
    [missing] = set(addresses) - {recipients[0] for recipients, _ in first}

    smtp_server.refuse_nth = None
    output = send()
    second = smtp_server.take()
    assert [recipients for recipients, _ in second] == [(missing,)]
    assert "Sent 1 email(s)" in output
    send()
    assert smtp_server.take() == []

    per_recipient = Counter(recipients[0] for recipients, _ in first + second)
    assert per_recipient == dict.fromkeys(addresses, 1)
    assert Delivery.objects.count() == 5


def test_an_unreachable_mail_server_fails_the_run_and_records_nothing(smtp_server):
    chips = TagFactory(name="Chips", slug="chips")
    subscriber = Subscriber.objects.create(
        email="reader@example.com", confirmed_at=timezone.now() - datetime.timedelta(days=1)
    )
    subscriber.follows.create(tag=chips)
    publish(chips)
    with override_settings(EMAIL_PORT=_free_port()), pytest.raises(CommandError, match="stopped early"):
        send()  # nothing listens on that port
    assert not Delivery.objects.exists()
    send()
    assert len(smtp_server.take()) == 1


def test_an_address_no_mail_can_go_to_does_not_hold_up_the_others(smtp_server):
    """Stored before the follow form refused them: the SMTP backend's own address handling would raise
    (UnicodeError from IDNA) or put a line break into the envelope and the To: header."""
    chips = TagFactory(name="Chips", slug="chips")
    since = timezone.now() - datetime.timedelta(days=1)
    for address in ("reader@ex\u06aa.com", '"z\x0c<b>injected</b>"@evil.example', "reader@example.com"):
        Subscriber.objects.create(email=address, confirmed_at=since).follows.create(tag=chips)
    publish(chips, title="For the one who can get it")
    output = send()
    [(recipients, message)] = smtp_server.take()
    assert recipients == ("reader@example.com",)
    assert message["To"] == "reader@example.com"
    assert "2 address(es) skipped" in output
    assert Delivery.objects.count() == 1


def test_tag_daily_and_author_immediately_one_alert_no_repeat_and_the_correction_once(
    client, smtp_server, time_machine
):
    """Issue 19's case through the real pages and SMTP: one address follows a tag daily and an author
    immediately; a story by that author with that tag gives exactly one immediate email; the next
    digest does not repeat it; a correction to it arrives once, in the next email."""
    monday_10 = datetime.datetime(2026, 3, 9, 10, 0, tzinfo=datetime.UTC)
    time_machine.move_to(monday_10, tick=True)
    chips = TagFactory(name="Chips", slug="chips", show_early=True)
    ada = AuthorFactory(name="Ada Brooks", slug="ada-brooks")
    publish(title="Ada's earlier story", authors=[ada])  # her page, and so her follow box, exist
    reader = follow_through_the_site(client, smtp_server, "reader@example.com", [chips], "daily")

    response = client.post(
        reverse("articles:author-follow", args=[ada.slug]), {"email": reader.email, "frequency": "immediate"}
    )
    assert response.status_code == 200
    [(_, settings_mail)] = smtp_server.take()  # already subscribed: the settings link, Ada offered
    manage_link = re.search(rf"{SITE}(/follow/manage/[^\s]+)", text_of(settings_mail)).group(1)
    assert manage_link.endswith("?add=author:ada-brooks&frequency=immediate")
    page = client.get(manage_link)
    assert 'value="author:ada-brooks" selected' in page.content.decode()
    response = client.post(
        manage_link.split("?")[0], {"add": "author:ada-brooks", "add_frequency": "immediate"}
    )
    assert response.status_code == 302
    assert dict(reader.follows.values_list("tag__slug", "frequency").filter(tag__isnull=False)) == {
        "chips": "daily"
    }
    assert reader.follows.get(author=ada).frequency == "immediate"

    story = publish(chips, title="Ada on chips", authors=[ada])
    send()
    [(recipients, alert)] = smtp_server.take()
    assert recipients == ("reader@example.com",)
    assert alert["Subject"] == "New from Ada Brooks: Ada on chips"
    send()
    assert smtp_server.take() == []

    time_machine.move_to(monday_10 + datetime.timedelta(days=1), tick=True)  # Tuesday's digest is due
    send()
    assert smtp_server.take() == []  # nothing new: the story went out already
    assert Subscriber.objects.get().last_daily_at is not None

    Correction.objects.create(article=story, note="The fab is in Oregon, not Ohio.")
    send()
    [(recipients, correction)] = smtp_server.take()
    assert correction["Subject"] == "Correction: Ada on chips"
    body = text_of(correction)
    assert "The fab is in Oregon, not Ohio." in body and "corrected since we sent it" in body
    assert "Ada on chips" in correction.get_body(("html",)).get_content()
    time_machine.move_to(monday_10 + datetime.timedelta(days=2), tick=True)
    send()
    assert smtp_server.take() == []
    assert Delivery.objects.filter(subscriber=reader).count() == 1
