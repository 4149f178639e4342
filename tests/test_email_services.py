"""The notification run through each email service's API, against the local fake of its documented
shapes (support/fake_esp.py): batches where the service takes them, each reader's own links and
List-Unsubscribe headers either way, recorded all or nothing."""

import datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from articles.following.tokens import follow_url
from articles.models import Delivery, Follow, Subscriber
from conclave import emailservice
from tests.factories import ArticleFactory, TagFactory
from tests.support.fake_esp import AWS_REGION, MAILGUN_DOMAIN, FakeEmailService, use_fake_aws_credentials

SENDGRID = pytest.param(
    "sendgrid", marks=pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning")
)
SERVICES = ["mailgun", "postmark", "amazon_ses", SENDGRID, "brevo", "resend"]
BATCHING = {"mailgun", "sendgrid", "brevo"}
KEYS = {
    "mailgun": "mailgun_key",
    "postmark": "postmark_token",
    "sendgrid": "sendgrid_key",
    "brevo": "brevo_key",
    "resend": "resend_key",
}


@pytest.fixture
def fake(monkeypatch):
    use_fake_aws_credentials(monkeypatch)
    monkeypatch.setenv("AWS_DEFAULT_REGION", AWS_REGION)
    with FakeEmailService() as fake:
        yield fake


def through(settings, fake, service):
    """Settings as EMAIL_SERVICE=<service> makes them (conclave/emailservice.py), aimed at the fake."""
    fake_name = "ses" if service == "amazon_ses" else service
    configured = emailservice.configure(
        service, api_key=getattr(fake, KEYS.get(service, ""), ""), api_url=fake.url(fake_name)
    )
    settings.EMAIL_BACKEND = configured["EMAIL_BACKEND"]
    settings.ANYMAIL = configured["ANYMAIL"]
    settings.EMAIL_SERVICE = service
    # Mailgun takes the sending domain from the From address.
    settings.DEFAULT_FROM_EMAIL = f"Conclave TechMedia <news@{MAILGUN_DOMAIN}>"


def followers(count, tag):
    since = timezone.now() - datetime.timedelta(days=1)
    readers = []
    for n in range(count):
        reader = Subscriber.objects.create(email=f"reader{n}@example.com", confirmed_at=since)
        Follow.objects.create(subscriber=reader, tag=tag, frequency="immediate")
        readers.append(reader)
    Follow.objects.update(created_at=since)
    return readers


def run():
    call_command("send_notifications", stdout=StringIO(), stderr=StringIO())


@pytest.mark.parametrize("service", SERVICES)
def test_each_reader_gets_one_email_with_their_own_links(settings, fake, service, db):
    through(settings, fake, service)
    chips = TagFactory(name="Chips", slug="chips")
    readers = followers(5, chips)
    article = ArticleFactory(tags=[chips], title="Fab output doubles")

    run()
    assert fake.violations == []
    assert fake.calls == (1 if service in BATCHING else 5)
    for reader in readers:
        [message] = fake.inbox(reader.email)
        unsubscribe = follow_url(reader, "unsubscribe")
        assert message.subject == "New on Chips: Fab output doubles"
        assert article.get_absolute_url() in message.text
        assert unsubscribe in message.text and follow_url(reader, "manage") in message.text
        assert unsubscribe in message.html and reader.email in message.html
        assert message.headers["List-Unsubscribe"].strip() == f"<{unsubscribe}>"  # SES: folded MIME
        assert message.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert Delivery.objects.count() == 5

    run()  # nothing left
    assert fake.calls == (1 if service in BATCHING else 5)


@pytest.mark.parametrize("service", ["mailgun", "postmark"])
def test_a_service_outage_records_nothing_and_the_next_run_sends_everything_once(settings, fake, service, db):
    through(settings, fake, service)
    chips = TagFactory(name="Chips", slug="chips")
    readers = followers(3, chips)
    ArticleFactory(tags=[chips])
    fake.fail_next(1 if service in BATCHING else 3, status=503)  # every call of the first run
    with pytest.raises(CommandError, match="could not be sent"):
        run()
    assert not Delivery.objects.exists()
    run()
    assert {reader.email: fake.received[reader.email] for reader in readers} == {
        reader.email: 1 for reader in readers
    }
    assert Delivery.objects.count() == 3


def test_addresses_postmark_refuses_are_suppressed_and_the_others_recorded(settings, fake, db):
    through(settings, fake, "postmark")
    chips = TagFactory(name="Chips", slug="chips")
    followers(3, chips)
    ArticleFactory(tags=[chips])
    fake.reject(["reader1@example.com"])
    run()
    assert sorted(Delivery.objects.values_list("subscriber__email", flat=True)) == [
        "reader0@example.com",
        "reader2@example.com",
    ]
    assert Subscriber.objects.filter(email="reader1@example.com").exists()  # kept, but
    from articles.models import Suppression

    assert Suppression.objects.get().email == "reader1@example.com"
    run()
    assert fake.received["reader1@example.com"] == 0
