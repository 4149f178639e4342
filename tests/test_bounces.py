"""The email service's bounce and complaint webhook (articles/following/bounces.py), called as each service
calls it: the payloads below follow each service's documentation (and anymail's captures of real calls),
signed as each service signs, behind the HTTP basic auth every service puts in the URL it is given.

No test sends through a service: EMAIL_BACKEND stays the test run's locmem backend, and only EMAIL_SERVICE
and ANYMAIL (what the webhook reads) are set, from conclave.emailservice.configure as settings.py does.
"""

import base64
import datetime
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from io import StringIO

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from svix.webhooks import Webhook as SvixWebhook

from articles.following.bounces import SOFT_BOUNCE_DAYS, is_suppressed
from articles.models import Follow, Subscriber, Suppression
from conclave import emailservice
from tests.factories import ArticleFactory, TagFactory

# SendGrid's webhook view warns on every call that anymail no longer tests SendGrid (not our warning).
pytestmark = pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning")

UTC = datetime.UTC
NOW = datetime.datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
WEBHOOK_SECRET = "conclave-hooks:Xq3-long-random-password"
MAILGUN_SIGNING_KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
RESEND_SIGNING_SECRET = "whsec_" + base64.b64encode(b"conclave resend signing secret").decode()
# SendGrid signs with ECDSA (P-256, SHA-256) and shows the public key, base64 DER, as the verification key.
SENDGRID_PRIVATE_KEY = ec.generate_private_key(ec.SECP256R1())
SENDGRID_VERIFICATION_KEY = base64.b64encode(
    SENDGRID_PRIVATE_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
).decode()
FROM = "Conclave TechMedia <news@mail.example.com>"
SUBJECT = "New on Chips: a story"


@dataclass
class Call:
    """One webhook call as the service makes it (basic auth aside)."""

    body: str
    headers: dict = field(default_factory=dict)
    content_type: str = "application/json"


def message_id():
    return f"{uuid.uuid4().hex}@mail.example.com"


def iso_utc(when):
    """2026-03-10T11:55:00.000Z: AWS's and Resend's timestamps."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


class Service:
    name = ""
    signs = False  # whether the service signs its calls (and anymail checks the signature)
    # Words of the service's own that a hard bounce's, and a soft bounce's, detail keeps.
    hard_words = ""
    soft_words = ""

    def settings(self, **overrides):
        options = {"api_key": f"{self.name}-api-key", "webhook_secret": WEBHOOK_SECRET}
        options.update(overrides)
        return emailservice.configure(self.name, **options)

    def call(self, event, when, forge=None):
        raise NotImplementedError

    def __repr__(self):
        return self.name


class Mailgun(Service):
    """New-style JSON webhooks: {"signature": {timestamp, token, signature}, "event-data": {...}}, the
    signature an HMAC-SHA256 of timestamp + token with the webhook signing key."""

    name = "mailgun"
    signs = True
    hard_words = "5.1.1 The email account that you tried to reach does not exist"
    soft_words = "4.2.2 The email account that you tried to reach is over quota"

    def settings(self, **overrides):
        return super().settings(**{"signing_key": MAILGUN_SIGNING_KEY, **overrides})

    def event(self, kind, email, when, **extra):
        local, _, domain = email.partition("@")
        return {
            "event": kind,
            "id": uuid.uuid4().hex[:22],
            "timestamp": when.timestamp(),
            "log-level": "info",
            "recipient": email,
            "recipient-domain": domain,
            "envelope": {"sender": "bounce+abc@mail.example.com", "transport": "smtp", "targets": email},
            "flags": {"is-authenticated": True, "is-routed": False, "is-system-test": False},
            "message": {
                "headers": {"to": email, "message-id": message_id(), "from": FROM, "subject": SUBJECT},
                "attachments": [],
                "size": 24_310,
            },
            "user-variables": {},
            "tags": [],
            "campaigns": [],
            **extra,
        }

    def failed(self, email, when, severity, reason, code, words):
        return self.event(
            "failed",
            email,
            when,
            severity=severity,
            reason=reason,
            **{
                "log-level": "error" if severity == "permanent" else "warn",
                "delivery-status": {
                    "attempt-no": 1,
                    "code": code,
                    "message": words,
                    "description": "",
                    "mx-host": "mx.example.com",
                    "session-seconds": 1.3,
                    "tls": True,
                    "certificate-verified": True,
                    "utf8": True,
                },
            },
        )

    def hard_bounce(self, email, when):
        words = f"{self.hard_words}. Please try double-checking the recipient's email address for typos."
        return self.failed(email, when, "permanent", "bounce", 550, words)

    def soft_bounce(self, email, when):
        return self.failed(email, when, "temporary", "generic", 452, self.soft_words + ".")

    def complaint(self, email, when):
        return self.event("complained", email, when, **{"log-level": "warn"})

    def delivered(self, email, when):
        status = {"code": 250, "message": "OK", "description": "", "tls": True, "attempt-no": 1}
        return self.event("delivered", email, when, **{"delivery-status": status})

    def call(self, event, when, forge=None):
        timestamp, token = str(int(when.timestamp())), uuid.uuid4().hex + uuid.uuid4().hex[:18]
        key = b"another account's key" if forge == "bad signature" else MAILGUN_SIGNING_KEY.encode()
        signature = hmac.new(key, (timestamp + token).encode(), hashlib.sha256).hexdigest()
        payload = {"signature": {"timestamp": timestamp, "token": token, "signature": signature}}
        if forge == "unsigned":
            payload = {}
        return Call(json.dumps({**payload, "event-data": event}))


class Postmark(Service):
    """Bounce, SpamComplaint and Delivery webhooks: one JSON object; times in US Eastern, .NET style."""

    name = "postmark"
    hard_words = "The server was unable to deliver your message (ex: unknown user, mailbox not found)."
    soft_words = "Unable to temporarily deliver this message"
    eastern = datetime.timezone(datetime.timedelta(hours=-4))

    @classmethod
    def time(cls, when):
        """2026-03-10T07:55:00.0000003-04:00: seven digits of fraction, and an offset."""
        iso = when.astimezone(cls.eastern).isoformat(timespec="microseconds")
        return iso[:26] + "3" + iso[26:]

    def bounce(self, email, when, type_, type_code, name, description, details):
        return {
            "RecordType": "Bounce",
            "MessageStream": "outbound",
            "ID": 4323372036854775807,
            "Type": type_,
            "TypeCode": type_code,
            "Name": name,
            "Tag": "alert",
            "MessageID": str(uuid.uuid4()),
            "Metadata": {},
            "ServerID": 23,
            "Description": description,
            "Details": details,
            "Email": email,
            "From": "news@mail.example.com",
            "BouncedAt": self.time(when),
            "DumpAvailable": True,
            "Inactive": type_ != "SoftBounce",
            "CanActivate": True,
            "Subject": SUBJECT,
        }

    def hard_bounce(self, email, when):
        details = "smtp;550 5.1.1 The email account that you tried to reach does not exist."
        return self.bounce(email, when, "HardBounce", 1, "Hard bounce", self.hard_words, details)

    def soft_bounce(self, email, when):
        details = "smtp;452 4.2.2 The email account that you tried to reach is over quota."
        return self.bounce(email, when, "SoftBounce", 4096, "Soft bounce", self.soft_words, details)

    def complaint(self, email, when):
        event = self.bounce(email, when, "SpamComplaint", 512, "Spam complaint", "", "")
        event.update(RecordType="SpamComplaint", Details="Test spam complaint details", CanActivate=False)
        return event

    def delivered(self, email, when):
        return {
            "RecordType": "Delivery",
            "ServerID": 23,
            "MessageStream": "outbound",
            "MessageID": str(uuid.uuid4()),
            "Recipient": email,
            "Tag": "alert",
            "DeliveredAt": self.time(when),
            "Details": "smtp;250 2.0.0 OK  1710072000 a1-20020a05",
            "Metadata": {},
        }

    def call(self, event, when, forge=None):
        return Call(json.dumps(event))


class AmazonSES(Service):
    """SES notifications published to an SNS topic, which POSTs a Notification whose Message is the SES
    event as a JSON string; SNS sends text/plain and its own headers. (anymail does not check SNS's
    signature: basic auth is the protection.)"""

    name = "amazon_ses"
    hard_words = "smtp; 550 5.1.1 user unknown"
    soft_words = "smtp; 452 4.2.2 Mailbox full"
    topic = "arn:aws:sns:eu-west-1:123456789012:conclave-ses-notifications"

    def mail(self, email, when):
        return {
            "timestamp": iso_utc(when - datetime.timedelta(seconds=2)),
            "source": "news@mail.example.com",
            "sourceArn": "arn:aws:ses:eu-west-1:123456789012:identity/mail.example.com",
            "sourceIp": "203.0.113.10",
            "sendingAccountId": "123456789012",
            "messageId": "0102018e2a1b2c3d-" + uuid.uuid4().hex[:8] + "-000000",
            "destination": [email],
            "headersTruncated": False,
        }

    def bounce(self, email, when, bounce_type, sub_type, diagnostic, status):
        return {
            "notificationType": "Bounce",
            "bounce": {
                "bounceType": bounce_type,
                "bounceSubType": sub_type,
                "bouncedRecipients": [
                    {
                        "emailAddress": email,
                        "action": "failed",
                        "status": status,
                        "diagnosticCode": diagnostic,
                    }
                ],
                "timestamp": iso_utc(when),
                "feedbackId": "0102018e2a1b2c3d-feedback-000000",
                "remoteMtaIp": "198.51.100.25",
                "reportingMTA": "dsn; a8-70.smtp-out.amazonses.com",
            },
            "mail": self.mail(email, when),
        }

    def hard_bounce(self, email, when):
        return self.bounce(email, when, "Permanent", "General", self.hard_words, "5.1.1")

    def soft_bounce(self, email, when):
        return self.bounce(email, when, "Transient", "MailboxFull", self.soft_words, "4.2.2")

    def complaint(self, email, when):
        return {
            "notificationType": "Complaint",
            "complaint": {
                "userAgent": "ExampleCorp Feedback Loop (V0.01)",
                "complainedRecipients": [{"emailAddress": email}],
                "complaintFeedbackType": "abuse",
                "arrivalDate": iso_utc(when),
                "timestamp": iso_utc(when),
                "feedbackId": "0102018e2a1b2c3d-complaint-000000",
            },
            "mail": self.mail(email, when),
        }

    def delivered(self, email, when):
        return {
            "notificationType": "Delivery",
            "delivery": {
                "timestamp": iso_utc(when),
                "processingTimeMillis": 546,
                "recipients": [email],
                "smtpResponse": "250 ok:  Message 64111812 accepted",
                "remoteMtaIp": "198.51.100.25",
                "reportingMTA": "a8-70.smtp-out.amazonses.com",
            },
            "mail": self.mail(email, when),
        }

    def call(self, event, when, forge=None):
        sns_id = str(uuid.uuid4())
        body = {
            "Type": "Notification",
            "MessageId": sns_id,
            "TopicArn": self.topic,
            "Message": json.dumps(event),
            "Timestamp": iso_utc(when),
            "SignatureVersion": "1",
            "Signature": base64.b64encode(b"not checked by anymail").decode(),
            "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000.pem",
            "UnsubscribeURL": f"https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={self.topic}",
        }
        headers = {
            "x-amz-sns-message-type": "Notification",
            "x-amz-sns-message-id": sns_id,
            "x-amz-sns-topic-arn": self.topic,
            "x-amz-sns-subscription-arn": f"{self.topic}:{uuid.uuid4()}",
            "User-Agent": "Amazon Simple Notification Service Agent",
        }
        return Call(json.dumps(body), headers, content_type="text/plain; charset=UTF-8")


class SendGrid(Service):
    """The Event Webhook: a JSON array of events, signed (ECDSA over timestamp + body) when its signed
    webhook is on, as we require."""

    name = "sendgrid"
    signs = True
    hard_words = "550 5.1.1 The email account that you tried to reach does not exist."
    soft_words = "452 4.2.2 The email account that you tried to reach is over quota."

    def settings(self, **overrides):
        return super().settings(**{"signing_key": SENDGRID_VERIFICATION_KEY, **overrides})

    def event(self, kind, email, when, **extra):
        return {
            "email": email,
            "timestamp": int(when.timestamp()),
            "smtp-id": f"<{message_id()}>",
            "event": kind,
            "category": ["alert"],
            "sg_event_id": base64.b64encode(uuid.uuid4().bytes).decode(),
            "sg_message_id": f"{uuid.uuid4().hex[:22]}.filterdrecv-5645d9c87f-abcde-1-0",
            **extra,
        }

    def hard_bounce(self, email, when):
        return self.event(
            "bounce",
            email,
            when,
            reason=self.hard_words,
            status="5.1.1",
            type="bounce",
            bounce_classification="Invalid Address",
            tls=1,
        )

    def soft_bounce(self, email, when):
        return self.event("deferred", email, when, response=self.soft_words, attempt="1", tls=1)

    def complaint(self, email, when):
        return self.event("spamreport", email, when)

    def delivered(self, email, when):
        return self.event("delivered", email, when, response="250 2.0.0 OK", tls=1, ip="149.72.1.1")

    def call(self, event, when, forge=None):
        events = event if isinstance(event, list) else [event]  # SendGrid batches events
        body, timestamp = json.dumps(events), str(int(when.timestamp()))
        key = ec.generate_private_key(ec.SECP256R1()) if forge == "bad signature" else SENDGRID_PRIVATE_KEY
        signature = key.sign(timestamp.encode() + body.encode(), ec.ECDSA(hashes.SHA256()))
        headers = {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        }
        return Call(body, {} if forge == "unsigned" else headers)


class Brevo(Service):
    """Transactional webhooks: one JSON object per event; ts_epoch (milliseconds) is the UTC time."""

    name = "brevo"
    hard_words = "RecipientError: 550 5.5.0 Requested action not taken: mailbox unavailable."
    soft_words = "RecipientError: 452 4.2.2 Mailbox full"

    def event(self, kind, email, when, **extra):
        paris = when.astimezone(datetime.timezone(datetime.timedelta(hours=1)))
        return {
            "event": kind,
            "email": email,
            "id": 712345,
            "date": paris.strftime("%Y-%m-%d %H:%M:%S"),
            "ts": int(when.timestamp()),
            "message-id": f"<{message_id()}>",
            "ts_event": int(when.timestamp()),
            "subject": SUBJECT,
            "tag": '["alert"]',
            "sending_ip": "185.41.28.109",
            "ts_epoch": int(when.timestamp() * 1000),
            "tags": ["alert"],
            **extra,
        }

    def hard_bounce(self, email, when):
        return self.event("hard_bounce", email, when, reason=" " + self.hard_words)

    def soft_bounce(self, email, when):
        return self.event("soft_bounce", email, when, reason=self.soft_words)

    def complaint(self, email, when):
        return self.event("spam", email, when)

    def delivered(self, email, when):
        return self.event("delivered", email, when)

    def call(self, event, when, forge=None):
        return Call(json.dumps(event))


class Resend(Service):
    """Webhooks sent through Svix: svix-id, svix-timestamp and svix-signature headers."""

    name = "resend"
    signs = True
    hard_words = "The recipient's email provider sent a hard bounce message"
    soft_words = ""  # email.delivery_delayed says no more than that

    def settings(self, **overrides):
        return super().settings(**{"signing_key": RESEND_SIGNING_SECRET, **overrides})

    def event(self, kind, email, when, **data):
        return {
            "type": kind,
            "created_at": iso_utc(when),
            "data": {
                "created_at": iso_utc(when - datetime.timedelta(seconds=1)),
                "email_id": str(uuid.uuid4()),
                "from": FROM,
                "to": [email],
                "subject": SUBJECT,
                **data,
            },
        }

    def hard_bounce(self, email, when):
        words = (
            f"{self.hard_words}, which means the email address doesn't exist or the provider has "
            "blocked it. We recommend removing the recipient's email address from your mailing list."
        )
        return self.event(
            "email.bounced", email, when, bounce={"message": words, "subType": "General", "type": "Permanent"}
        )

    def soft_bounce(self, email, when):
        return self.event("email.delivery_delayed", email, when)

    def complaint(self, email, when):
        return self.event("email.complained", email, when)

    def delivered(self, email, when):
        return self.event("email.delivered", email, when)

    def call(self, event, when, forge=None):
        body, svix_id = json.dumps(event), f"msg_{uuid.uuid4().hex[:27]}"
        secret = "whsec_" + base64.b64encode(b"someone else's secret").decode()
        signer = SvixWebhook(secret if forge == "bad signature" else RESEND_SIGNING_SECRET)
        headers = {
            "svix-id": svix_id,
            "svix-timestamp": str(int(when.timestamp())),
            "svix-signature": signer.sign(svix_id, when, body),
        }
        return Call(body, {} if forge == "unsigned" else headers)


SERVICES = [Mailgun(), Postmark(), AmazonSES(), SendGrid(), Brevo(), Resend()]
SIGNING = [service for service in SERVICES if service.signs]


def basic_auth(credentials):
    return "Basic " + base64.b64encode(credentials.encode()).decode()


def configure(settings, service, **overrides):
    """What settings.py would set for this service, but for the backend: the tests send nothing."""
    settings.EMAIL_SERVICE = service.name
    settings.ANYMAIL = service.settings(**overrides)["ANYMAIL"]


def post(client, service, call, auth=WEBHOOK_SECRET, path_service=None):
    headers = dict(call.headers)
    if auth is not None:
        headers["Authorization"] = basic_auth(auth)
    url = reverse("articles:email-tracking-webhook", args=[path_service or service.name])
    return client.post(url, data=call.body, content_type=call.content_type, headers=headers)


def notify(client, service, kind, email, when=None, **options):
    """The service tells us of a `kind` event for `email`, at `when` (now)."""
    when = when or timezone.now()
    return post(client, service, service.call(getattr(service, kind)(email, when), when), **options)


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)
    return time_machine


# 1. Hard bounces and complaints


@pytest.mark.parametrize("service", SERVICES, ids=repr)
def test_a_hard_bounce_suppresses_the_address_with_the_services_words(client, settings, db, frozen, service):
    configure(settings, service)
    bounced_at = NOW - datetime.timedelta(minutes=5)
    response = notify(client, service, "hard_bounce", "gone@example.com", bounced_at)
    assert response.status_code == 200
    row = Suppression.objects.get()
    assert (row.email, row.reason, row.soft_bounces) == ("gone@example.com", "bounced", 0)
    assert service.hard_words in row.detail
    assert row.suppressed_at == row.last_event_at == bounced_at  # the service's time of the bounce
    assert is_suppressed("gone@example.com")


@pytest.mark.parametrize("service", SERVICES, ids=repr)
def test_a_complaint_suppresses_the_address(client, settings, db, frozen, service):
    configure(settings, service)
    response = notify(client, service, "complaint", "annoyed@example.com")
    assert response.status_code == 200
    row = Suppression.objects.get()
    assert (row.email, row.reason) == ("annoyed@example.com", "complained")
    assert row.suppressed_at == NOW


@pytest.mark.parametrize("service", SERVICES, ids=repr)
def test_a_delivery_stores_nothing_and_lifts_no_suppression(client, settings, db, frozen, service):
    configure(settings, service)
    assert notify(client, service, "delivered", "fine@example.com").status_code == 200
    assert not Suppression.objects.exists()
    notify(client, service, "hard_bounce", "gone@example.com")
    assert notify(client, service, "delivered", "gone@example.com").status_code == 200
    assert is_suppressed("gone@example.com")


def test_an_open_stores_nothing(client, settings, db):
    configure(settings, Postmark())
    opened = {
        "RecordType": "Open",
        "MessageStream": "outbound",
        "FirstOpen": True,
        "Client": {"Name": "Gmail", "Company": "Google", "Family": "Gmail"},
        "OS": {"Name": "unknown", "Company": "unknown", "Family": "unknown"},
        "Platform": "Unknown",
        "UserAgent": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0",
        "MessageID": str(uuid.uuid4()),
        "ReceivedAt": Postmark.time(timezone.now()),
        "Recipient": "reader@example.com",
    }
    assert post(client, Postmark(), Call(json.dumps(opened))).status_code == 200
    assert not Suppression.objects.exists()


def test_the_services_call_without_a_csrf_token(settings, db):
    """They cannot have one: the webhook must be exempt, whatever the CSRF middleware would say."""
    configure(settings, Postmark())
    response = notify(Client(enforce_csrf_checks=True), Postmark(), "hard_bounce", "gone@example.com")
    assert response.status_code == 200
    assert is_suppressed("gone@example.com")


# 2. Forged webhooks


FORGERIES = [(service, "no basic auth") for service in SERVICES]
FORGERIES += [(service, "wrong basic auth") for service in SERVICES]
FORGERIES += [(service, forge) for service in SIGNING for forge in ("bad signature", "unsigned")]


@pytest.mark.parametrize(
    ("service", "forgery"), FORGERIES, ids=[f"{service.name}-{forgery}" for service, forgery in FORGERIES]
)
def test_a_forged_bounce_changes_nothing(client, settings, db, frozen, service, forgery):
    configure(settings, service)
    auth = {"no basic auth": None, "wrong basic auth": "conclave-hooks:guessed"}.get(forgery, WEBHOOK_SECRET)
    forge = forgery if forgery in ("bad signature", "unsigned") else None
    call = service.call(service.hard_bounce("victim@example.com", NOW), NOW, forge=forge)
    response = post(client, service, call, auth=auth)
    assert response.status_code in (400, 401, 403)
    assert not Suppression.objects.exists()


def test_another_services_webhook_is_not_served(client, settings, db, frozen):
    configure(settings, Postmark())
    mailgun = Mailgun()
    settings.ANYMAIL |= {"MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_SIGNING_KEY}  # even were it signed right
    assert notify(client, mailgun, "hard_bounce", "victim@example.com").status_code == 404
    assert (
        notify(client, Postmark(), "hard_bounce", "victim@example.com", path_service="sparkpost").status_code
        == 404
    )
    assert not Suppression.objects.exists()


@pytest.mark.parametrize("service", SERVICES, ids=repr)
def test_no_webhook_without_a_webhook_secret(client, settings, db, frozen, service):
    configure(settings, service, webhook_secret="")
    assert "WEBHOOK_SECRET" not in settings.ANYMAIL
    assert notify(client, service, "hard_bounce", "victim@example.com").status_code == 404
    assert notify(client, service, "hard_bounce", "victim@example.com", auth=None).status_code == 404
    assert not Suppression.objects.exists()


def test_no_webhook_without_an_email_service(client, settings, db):
    settings.EMAIL_SERVICE = ""
    settings.ANYMAIL = {"WEBHOOK_SECRET": WEBHOOK_SECRET}
    assert notify(client, Postmark(), "hard_bounce", "victim@example.com").status_code == 404
    assert not Suppression.objects.exists()


# 3. Soft bounces


def day(n, hour=12):
    """Day n of a soft-bouncing week (day 1 is NOW's day), at `hour` UTC."""
    return NOW.replace(hour=hour) + datetime.timedelta(days=n - 1)


@pytest.mark.parametrize("service", SERVICES, ids=repr)
def test_soft_bounces_count_once_a_day_and_suppress_on_the_third_day(
    client, settings, db, time_machine, service
):
    configure(settings, service)

    def soft_bounce_at(when):
        time_machine.move_to(when, tick=False)
        assert notify(client, service, "soft_bounce", "full@example.com", when).status_code == 200
        return Suppression.objects.get(email="full@example.com")

    row = soft_bounce_at(day(1, hour=8))
    assert (row.soft_bounces, row.suppressed_at, row.reason) == (1, None, "")
    assert service.soft_words in row.detail
    assert soft_bounce_at(day(1, hour=20)).soft_bounces == 1  # the same day: not counted again
    assert not is_suppressed("full@example.com")
    row = soft_bounce_at(day(2))
    assert (row.soft_bounces, row.suppressed_at) == (2, None)
    assert not is_suppressed("full@example.com")
    row = soft_bounce_at(day(SOFT_BOUNCE_DAYS))
    assert (row.soft_bounces, row.reason, row.suppressed_at) == (3, "soft_bounces", day(SOFT_BOUNCE_DAYS))
    assert is_suppressed("full@example.com")
    # Once suppressed, further soft bounces change nothing.
    row = soft_bounce_at(day(SOFT_BOUNCE_DAYS + 1))
    assert (row.soft_bounces, row.suppressed_at) == (3, day(SOFT_BOUNCE_DAYS))


@pytest.mark.parametrize("service", SERVICES, ids=repr)
def test_a_delivery_between_soft_bounces_clears_the_count(client, settings, db, time_machine, service):
    configure(settings, service)

    def event_at(kind, when):
        time_machine.move_to(when, tick=False)
        assert notify(client, service, kind, "full@example.com", when).status_code == 200

    event_at("soft_bounce", day(1))
    event_at("soft_bounce", day(2))
    assert Suppression.objects.get().soft_bounces == 2
    event_at("delivered", day(2, hour=18))
    assert not Suppression.objects.exists()
    event_at("soft_bounce", day(3))
    row = Suppression.objects.get()
    assert (row.soft_bounces, row.suppressed_at) == (1, None)
    assert not is_suppressed("full@example.com")


def test_soft_bounce_days_are_days_whatever_offset_the_service_writes(client, settings, db, time_machine):
    """Postmark writes its times in US Eastern: two soft bounces an hour apart, at 00:30 and 01:30 UTC
    (20:30 and 21:30 the evening before in New York), are one day however it is counted."""
    postmark = Postmark()
    configure(settings, postmark)
    for when in (day(2, hour=0), day(2, hour=1)):
        when += datetime.timedelta(minutes=30)
        time_machine.move_to(when, tick=False)
        assert notify(client, postmark, "soft_bounce", "full@example.com", when).status_code == 200
    assert Suppression.objects.get().soft_bounces == 1


def test_a_time_without_an_offset_is_read_as_utc(client, settings, db, frozen):
    """No service documents one, but Postmark's times are parsed as written: a bounce whose time has no
    offset is still recorded (not a failed call the service retries for days)."""
    postmark = Postmark()
    configure(settings, postmark)
    event = postmark.hard_bounce("gone@example.com", NOW)
    event["BouncedAt"] = "2026-03-10T11:55:00"
    assert post(client, postmark, postmark.call(event, NOW)).status_code == 200
    assert Suppression.objects.get().suppressed_at == NOW - datetime.timedelta(minutes=5)
    event = postmark.soft_bounce("full@example.com", NOW)
    for bounced_at in ("2026-03-10T08:00:00", "2026-03-10T20:00:00", "2026-03-11T08:00:00"):
        event["BouncedAt"] = bounced_at
        assert post(client, postmark, postmark.call(event, NOW)).status_code == 200
    assert Suppression.objects.get(email="full@example.com").soft_bounces == 2


def test_sendgrid_batches_events_for_several_addresses_in_one_call(client, settings, db, frozen):
    sendgrid = SendGrid()
    configure(settings, sendgrid)
    Suppression.objects.create(
        email="back@example.com", soft_bounces=2, last_event_at=NOW - datetime.timedelta(days=1)
    )
    events = [
        sendgrid.event("processed", "gone@example.com", NOW),
        sendgrid.hard_bounce("gone@example.com", NOW),
        sendgrid.soft_bounce("full@example.com", NOW),
        sendgrid.event("open", "back@example.com", NOW, useragent="Mozilla/5.0", ip="203.0.113.7"),
        sendgrid.delivered("back@example.com", NOW),
        sendgrid.complaint("annoyed@example.com", NOW),
    ]
    call = sendgrid.call(events, NOW)
    assert post(client, sendgrid, call).status_code == 200
    rows = {row.email: row for row in Suppression.objects.all()}
    assert sorted(rows) == ["annoyed@example.com", "full@example.com", "gone@example.com"]
    assert (rows["gone@example.com"].reason, rows["annoyed@example.com"].reason) == ("bounced", "complained")
    assert (rows["full@example.com"].soft_bounces, rows["full@example.com"].suppressed_at) == (1, None)


# 4. With the notification run


def run():
    out = StringIO()
    call_command("send_notifications", stdout=out, stderr=StringIO())
    return out.getvalue()


def recipients():
    return sorted(address for message in mail.outbox for address in message.to)


def test_a_bounced_follower_is_sent_nothing_until_an_editor_lifts_the_suppression(
    editor_client, settings, db
):
    service = Postmark()
    configure(settings, service)
    chips = TagFactory(name="Chips", slug="chips")
    since = timezone.now() - datetime.timedelta(days=2)
    for email in ("gone@example.com", "fine@example.com"):
        subscriber = Subscriber.objects.create(email=email, confirmed_at=since)
        Follow.objects.create(subscriber=subscriber, tag=chips, frequency="immediate")
    Follow.objects.update(created_at=since)

    assert notify(editor_client, service, "hard_bounce", "gone@example.com").status_code == 200
    first = ArticleFactory(title="Chip shortage eases", tags=[chips])
    run()
    assert recipients() == ["fine@example.com"]
    assert first.title in mail.outbox[0].subject

    # The editor lifts the suppression: the address is mailed again.
    suppression = Suppression.objects.get(email="gone@example.com")
    changelist = reverse("admin:articles_suppression_changelist")
    assert "gone@example.com" in editor_client.get(changelist).content.decode()
    response = editor_client.post(
        changelist, {"action": "lift", "_selected_action": [suppression.pk]}, follow=True
    )
    assert response.status_code == 200
    assert "Lifted 1 suppression(s)" in response.content.decode()
    assert not Suppression.objects.exists()

    mail.outbox.clear()
    second = ArticleFactory(
        title="New fab opens", tags=[chips], published_at=timezone.now() - datetime.timedelta(minutes=5)
    )
    run()
    by_address = {message.to[0]: message for message in mail.outbox}
    assert sorted(by_address) == ["fine@example.com", "gone@example.com"]
    assert second.title in by_address["gone@example.com"].body
    assert second.title in by_address["fine@example.com"].subject
    # What it missed while suppressed comes too, being still in the run's look-back window.
    assert by_address["gone@example.com"].subject == "2 new stories: Chips"
    assert first.title in by_address["gone@example.com"].body


# 5. emailservice.configure


def test_an_unknown_service_is_refused_naming_the_choices():
    with pytest.raises(ImproperlyConfigured) as refused:
        emailservice.configure("sparkpost", api_key="key")
    message = str(refused.value)
    assert "sparkpost" in message
    assert all(name in message for name in emailservice.SERVICES)


@pytest.mark.parametrize("name", ["mailgun", "postmark", "sendgrid", "brevo", "resend"])
def test_a_service_without_its_api_key_is_refused(name):
    with pytest.raises(ImproperlyConfigured, match="EMAIL_SERVICE_API_KEY"):
        emailservice.configure(name)


def test_amazon_ses_needs_no_api_key():
    """boto3 finds AWS credentials itself (AWS_* variables, or the machine's role)."""
    config = emailservice.configure("amazon_ses", webhook_secret=WEBHOOK_SECRET)
    assert config["EMAIL_BACKEND"] == "anymail.backends.amazon_ses.EmailBackend"
    assert config["ANYMAIL"] == {"WEBHOOK_SECRET": WEBHOOK_SECRET}


def test_a_webhook_secret_must_be_user_colon_password():
    with pytest.raises(ImproperlyConfigured, match="user:password"):
        emailservice.configure("postmark", api_key="token", webhook_secret="just-a-password")


@pytest.mark.parametrize("name", ["mailgun", "sendgrid", "resend"])
def test_a_signing_service_with_a_webhook_secret_needs_its_signing_key(name):
    with pytest.raises(ImproperlyConfigured, match="EMAIL_WEBHOOK_SIGNING_KEY"):
        emailservice.configure(name, api_key="key", webhook_secret=WEBHOOK_SECRET)
    # Without a webhook there is nothing to sign.
    assert "WEBHOOK_SECRET" not in emailservice.configure(name, api_key="key")["ANYMAIL"]
