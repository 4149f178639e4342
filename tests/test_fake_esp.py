"""The fake email services (support/fake_esp.py), driven through anymail's real backends.

Each service gets the sends the app will make (several readers, per-reader bodies where the service
substitutes them, per-reader List-Unsubscribe headers, text with an HTML alternative), and each reader
must get their own. Then what must go wrong does: a wrong key, a call over the service's limit, an
outage, a suppressed reader. Raw requests check that the fake itself refuses what the services refuse.
"""

import base64
import json
import threading

import boto3
import pytest
import requests
from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
from botocore.config import Config
from django.core import mail
from django.core.mail import EmailMultiAlternatives

from tests.support.fake_esp import (
    AWS_REGION,
    BACKENDS,
    BREVO_MAX_VERSIONS,
    MAILGUN_MAX_RECIPIENTS,
    POSTMARK_MAX_BATCH,
    RESEND_MAX_BATCH,
    SENDGRID_MAX_PERSONALIZATIONS,
    SES_MAX_RECIPIENTS,
    FakeEmailService,
    use_fake_aws_credentials,
)

SENDER = "Conclave TechMedia <alerts@news.example.com>"
READERS = ["ada@example.org", "Bob Byte <bob@example.net>", "zoe@example.com"]
ADDRESSES = ["ada@example.org", "bob@example.net", "zoe@example.com"]
NAMES = {"ada@example.org": "Ada", "bob@example.net": "Bob", "zoe@example.com": "Zoë"}
STORIES = {
    "ada@example.org": "Quantix Q3",
    "bob@example.net": "Rust in the kernel",
    "zoe@example.com": "RISC-V",
}
# SendGrid's legacy substitutions replace any text; anymail's docs suggest delimiting the fields so.
SENDGRID_MERGE_FIELD_FORMAT = "-{}-"
# How each service that substitutes without a stored template spells a merge field.
MERGE_FIELD = {
    "mailgun": "%recipient.{}%",
    "sendgrid": SENDGRID_MERGE_FIELD_FORMAT,
    "brevo": "{{{{ params.{} }}}}",
}

# anymail 15 warns, each time it makes a SendGrid backend, that it no longer tests SendGrid.
SENDGRID = pytest.param(
    "sendgrid", marks=pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning")
)
ALL = ["mailgun", "postmark", SENDGRID, "brevo", "resend", "ses"]


@pytest.fixture
def fake():
    with FakeEmailService() as fake:
        yield fake


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    use_fake_aws_credentials(monkeypatch)


@pytest.fixture
def use(settings, fake):
    """Send through ``service`` on the fake; ``retries`` only for SES, whose boto3 client retries."""

    def use(service, retries=None, **extra):
        settings.EMAIL_BACKEND = BACKENDS[service]
        anymail = fake.anymail_settings(service)
        if service == "sendgrid":
            anymail["SENDGRID_MERGE_FIELD_FORMAT"] = SENDGRID_MERGE_FIELD_FORMAT
        if retries is not None:
            client = anymail["AMAZON_SES_CLIENT_PARAMS"]
            client["config"] = {"retries": {"mode": "standard", "total_max_attempts": retries}}
        settings.ANYMAIL = anymail | extra
        return fake

    return use


def unsubscribe(address):
    return {
        "List-Unsubscribe": f"<https://news.example.com/unsubscribe/{address.split('@')[0]}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def alert(to=READERS, subject="New story", text="A new story.", html="<p>A new story.</p>", **kwargs):
    message = EmailMultiAlternatives(subject, text, SENDER, to, **kwargs)
    message.attach_alternative(html, "text/html")
    return message


def expected_status(service):
    # Postmark says it sent the message; the others only that they queued it.
    return "sent" if service == "postmark" else "queued"


@pytest.mark.parametrize("service", ["mailgun", SENDGRID, "brevo"])
def test_one_batch_call_gives_each_reader_their_own_body_and_headers(use, service):
    fake = use(service)
    field = MERGE_FIELD[service].format
    message = alert(
        subject=f"New on {field('story')}",
        text=f"Hello {field('name')}, {field('story')} is out.",
        html=f"<p>Hello <b>{field('name')}</b>, {field('story')} is out.</p>",
    )
    message.merge_data = {a: {"name": NAMES[a], "story": STORIES[a]} for a in ADDRESSES}
    message.merge_headers = {a: unsubscribe(a) for a in ADDRESSES}
    message.send()

    assert fake.violations == []
    assert (fake.calls, fake.recipients_per_call) == (1, [3])
    assert message.anymail_status.status == {"queued"}
    assert set(message.anymail_status.recipients) == set(ADDRESSES)
    for address in ADDRESSES:
        (got,) = fake.inbox(address)
        name, story = NAMES[address], STORIES[address]
        assert got.service == service
        assert got.subject == f"New on {story}"
        assert got.text == f"Hello {name}, {story} is out."
        assert got.html == f"<p>Hello <b>{name}</b>, {story} is out.</p>"
        assert got.headers == unsubscribe(address)
        assert got.message_id == message.anymail_status.recipients[address].message_id
    ids = {message.anymail_status.recipients[a].message_id for a in ADDRESSES}
    # Mailgun gives one id to the whole batch; SendGrid (anymail's) and Brevo one per reader.
    assert len(ids) == (1 if service == "mailgun" else 3)


@pytest.mark.parametrize("service", ["postmark", "resend"])
def test_one_batch_call_gives_each_reader_their_own_headers(use, service):
    # Neither substitutes without a stored template; per-reader headers still go in one batch call.
    fake = use(service)
    message = alert()
    message.merge_headers = {a: unsubscribe(a) for a in ADDRESSES}
    message.send()

    assert fake.violations == []
    assert (fake.calls, fake.recipients_per_call) == (1, [3])
    for address in ADDRESSES:
        (got,) = fake.inbox(address)
        assert (got.subject, got.text, got.html) == ("New story", "A new story.", "<p>A new story.</p>")
        assert got.headers == unsubscribe(address)
        status = message.anymail_status.recipients[address]
        assert (status.status, status.message_id) == (expected_status(service), got.message_id)


@pytest.mark.parametrize("service", ALL)
def test_one_message_per_reader_in_one_connection(use, service):
    # How the app sends through a service that cannot substitute: each reader's message made here.
    fake = use(service)
    messages = [
        alert(
            to=[reader],
            subject=f"New on {STORIES[address]}",
            text=f"Hello {NAMES[address]}, {STORIES[address]} is out.",
            html=f"<p>Hello <b>{NAMES[address]}</b>.</p>",
            headers=unsubscribe(address),
        )
        for reader, address in zip(READERS, ADDRESSES, strict=True)
    ]
    with mail.get_connection() as connection:
        assert connection.send_messages(messages) == 3

    assert fake.violations == []
    assert (fake.calls, fake.recipients_per_call) == (3, [1, 1, 1])
    for message, address in zip(messages, ADDRESSES, strict=True):
        (got,) = fake.inbox(address)
        assert got.subject == f"New on {STORIES[address]}"
        assert got.text == f"Hello {NAMES[address]}, {STORIES[address]} is out."
        assert got.html == f"<p>Hello <b>{NAMES[address]}</b>.</p>"
        assert got.headers == unsubscribe(address)
        assert message.anymail_status.status == {expected_status(service)}
        assert message.anymail_status.recipients[address].message_id == got.message_id


def test_mailgun_reads_multipart_forms_too(use):
    # anymail posts a urlencoded form, unless the message has attachments.
    fake = use("mailgun")
    message = alert(to=["ada@example.org"], text="Zoë's notes attached.")
    message.attach("notes.txt", "Thermals: fine.\n", "text/plain")
    message.send()

    assert fake.violations == []
    (got,) = fake.inbox("ada@example.org")
    assert (got.text, got.html) == ("Zoë's notes attached.", "<p>A new story.</p>")


WRONG_KEYS = {
    "mailgun": ("MAILGUN_API_KEY", 401),
    "postmark": ("POSTMARK_SERVER_TOKEN", 401),
    "sendgrid": ("SENDGRID_API_KEY", 401),
    "brevo": ("BREVO_API_KEY", 401),
    "resend": ("RESEND_API_KEY", 403),
}


@pytest.mark.parametrize("service", ALL)
def test_a_wrong_key_is_refused_and_nothing_is_recorded(use, service, monkeypatch):
    if service == "ses":
        fake = use(service, retries=1)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        expected = 403
    else:
        setting, expected = WRONG_KEYS[service]
        fake = use(service, **{setting: "not-the-key"})
    with pytest.raises(AnymailAPIError) as refused:
        alert().send()

    error = refused.value
    status = error.response["ResponseMetadata"]["HTTPStatusCode"] if service == "ses" else error.status_code
    assert status == expected
    assert (fake.calls, fake.deliveries, fake.received, fake.violations) == (0, [], {}, [])


def test_ses_refuses_an_unknown_access_key(use, monkeypatch):
    fake = use("ses", retries=1)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANOTTHEFAKESKEY00")
    with pytest.raises(AnymailAPIError, match="UnrecognizedClientException"):
        alert().send()
    assert (fake.calls, fake.received) == (0, {})


def too_many(service, n):
    """A call to ``n`` readers, batched the way that fills the service's limit."""
    message = alert(to=[f"reader{i}@example.com" for i in range(n)])
    if service != "ses":  # SES: no batch without a template; its limit is per message
        message.merge_data = {}
    return message


LIMITS = [
    ("mailgun", MAILGUN_MAX_RECIPIENTS, "recipients"),
    ("postmark", POSTMARK_MAX_BATCH, "messages"),
    pytest.param(
        "sendgrid", SENDGRID_MAX_PERSONALIZATIONS, "personalizations", marks=SENDGRID.marks, id="sendgrid"
    ),
    ("brevo", BREVO_MAX_VERSIONS, "messageVersions"),
    ("resend", RESEND_MAX_BATCH, "emails"),
    ("ses", SES_MAX_RECIPIENTS, "recipients"),
]


@pytest.mark.parametrize(("service", "limit", "what"), LIMITS)
def test_a_call_at_the_limit_is_taken(use, service, limit, what):
    fake = use(service)
    too_many(service, limit).send()
    assert fake.violations == []
    assert fake.recipients_per_call == [limit]
    assert sum(fake.received.values()) == limit


@pytest.mark.parametrize(("service", "limit", "what"), LIMITS)
def test_a_call_over_the_limit_is_a_violation(use, service, limit, what):
    fake = use(service, retries=1 if service == "ses" else None)
    with pytest.raises(AnymailAPIError):
        too_many(service, limit + 1).send()
    # (SendGrid: 1,001 personalizations of one reader each break its recipient limit too.)
    assert all(violation.startswith(f"{service}: {limit + 1} ") for violation in fake.violations)
    assert fake.violations[0].startswith(f"{service}: {limit + 1} {what}")
    assert f"at most {limit}" in fake.violations[0]
    assert fake.received == {}


@pytest.mark.parametrize("service", ALL)
def test_an_outage_fails_the_send_and_delivers_nothing(use, service):
    fake = use(service, retries=1 if service == "ses" else None)
    fake.fail_next(1)
    with pytest.raises(AnymailAPIError) as failed:
        alert().send()
    error = failed.value
    status = error.response["ResponseMetadata"]["HTTPStatusCode"] if service == "ses" else error.status_code
    assert status == 503
    assert (fake.calls, fake.received, fake.violations) == (1, {}, [])

    alert().send()  # the next call goes through
    assert fake.calls == 2
    assert fake.received == dict.fromkeys(ADDRESSES, 1)


def test_ses_boto3_retries_an_outage_by_itself(use):
    # With boto3's default retries a 503 costs one more call and no error: worth knowing when counting.
    fake = use("ses")
    fake.fail_next(1)
    message = alert()
    message.send()
    assert message.anymail_status.status == {"queued"}
    assert fake.calls == 2
    assert fake.received == dict.fromkeys(ADDRESSES, 1)


def test_postmark_reports_inactive_readers_as_rejected_in_a_batch(use):
    fake = use("postmark")
    fake.reject(["BOB@example.net"])
    message = alert()
    message.merge_headers = {a: unsubscribe(a) for a in ADDRESSES}
    message.send()

    recipients = message.anymail_status.recipients
    assert {a: recipients[a].status for a in ADDRESSES} == {
        "ada@example.org": "sent",
        "bob@example.net": "rejected",
        "zoe@example.com": "sent",
    }
    assert recipients["bob@example.net"].message_id is None
    answers = message.anymail_status.esp_response.json()
    assert [answer["ErrorCode"] for answer in answers] == [0, 406, 0]
    assert "Found inactive addresses: bob@example.net." in answers[1]["Message"]
    assert fake.received == {"ada@example.org": 1, "zoe@example.com": 1}
    assert fake.suppressed == {"bob@example.net": 1}
    assert fake.violations == []


def test_postmark_sends_one_message_to_its_active_readers_only(use):
    fake = use("postmark")
    fake.reject(["bob@example.net"])
    message = alert(to=READERS[:2])
    message.send()
    assert {a: s.status for a, s in message.anymail_status.recipients.items()} == {
        "ada@example.org": "sent",
        "bob@example.net": "rejected",
    }
    assert fake.received == {"ada@example.org": 1}


def test_postmark_refuses_a_message_whose_readers_are_all_inactive(use):
    fake = use("postmark")
    fake.reject(["bob@example.net"])
    message = alert(to=["Bob Byte <bob@example.net>"])
    with pytest.raises(AnymailRecipientsRefused):
        message.send()
    assert message.anymail_status.status == {"rejected"}
    answer = message.anymail_status.esp_response
    assert (answer.status_code, answer.json()["ErrorCode"]) == (422, 406)
    assert (fake.received, fake.suppressed) == ({}, {"bob@example.net": 1})


@pytest.mark.parametrize("service", ["mailgun", SENDGRID, "brevo", "resend", "ses"])
def test_the_others_take_the_call_and_drop_suppressed_readers(use, service):
    fake = use(service)
    fake.reject(["bob@example.net"])
    messages = [alert(to=[reader]) for reader in READERS]
    with mail.get_connection() as connection:
        connection.send_messages(messages)
    # As in production, anymail can only say the message was queued: the drop shows in webhooks.
    assert all(message.anymail_status.status == {"queued"} for message in messages)
    assert fake.received == {"ada@example.org": 1, "zoe@example.com": 1}
    assert fake.suppressed == {"bob@example.net": 1}
    assert fake.violations == []


def test_counting_keeps_no_messages(settings):
    with FakeEmailService(record="count") as fake:
        settings.EMAIL_BACKEND = BACKENDS["mailgun"]
        settings.ANYMAIL = fake.anymail_settings("mailgun")
        for _ in range(2):
            message = alert(text="Hello %recipient.name%")
            message.merge_data = {a: {"name": NAMES[a]} for a in ADDRESSES}
            message.send()
        assert fake.deliveries == []
        assert fake.received == dict.fromkeys(ADDRESSES, 2)
        assert (fake.calls, fake.recipients_per_call) == (2, [3, 3])


def test_reset_forgets_records_failures_and_rejections(use):
    fake = use("mailgun")
    alert().send()
    fake.fail_next(3)
    fake.reject(ADDRESSES)
    fake.reset()
    assert (fake.calls, fake.deliveries, fake.received) == (0, [], {})
    alert().send()
    assert fake.received == dict.fromkeys(ADDRESSES, 1)


def test_sends_from_several_threads_are_all_counted(use):
    fake = use("postmark")
    errors = []

    def send(worker):
        try:
            with mail.get_connection() as connection:
                connection.send_messages([alert(to=[f"w{worker}-{i}@example.com"]) for i in range(25)])
        except Exception as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=send, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert fake.calls == 100
    assert len(fake.deliveries) == 100
    assert len(fake.received) == 100
    assert set(fake.received.values()) == {1}


def test_stop_ends_keep_alive_connections_and_their_threads():
    before = set(threading.enumerate())
    fake = FakeEmailService()
    with requests.Session() as session:
        answer = session.post(fake.url("postmark") + "email", json={}, timeout=5)
        assert answer.status_code == 401  # no token: refused, and the connection is kept
        fake.stop()
        assert set(threading.enumerate()) <= before
        with pytest.raises(requests.ConnectionError):
            session.post(fake.url("postmark") + "email", json={}, timeout=5)


def post(fake, service, path, body, headers):
    body = body if isinstance(body, str) else json.dumps(body)
    return requests.post(fake.url(service) + path, data=body, headers=headers, timeout=5)


JSON = "application/json"
MAILGUN_AUTH = "Basic " + base64.b64encode(b"api:mailgun-test-key-0123456789").decode()
FORM = "application/x-www-form-urlencoded"
SHAPE_ERRORS = [
    (
        "mailgun",
        "/news.example.com/messages",
        "from=alerts%40news.example.com&subject=Hi&text=Hi",
        {"Authorization": MAILGUN_AUTH, "Content-Type": FORM},
        400,
        "'to' parameter is missing",
    ),
    (
        "mailgun",
        "/news.example.com/messages",
        '{"from": "alerts@news.example.com"}',
        {"Authorization": MAILGUN_AUTH, "Content-Type": JSON},
        400,
        "Content-Type must be multipart/form-data or application/x-www-form-urlencoded",
    ),
    (
        "mailgun",
        "/elsewhere.example.com/messages",
        "",
        {"Authorization": MAILGUN_AUTH, "Content-Type": FORM},
        404,
        "Domain not found: elsewhere.example.com",
    ),
    (
        "postmark",
        "email",
        '{"From": "a@news.example.com", "To": "b@example.com", "TextBody": "Hi"}',
        {"X-Postmark-Server-Token": "postmark-test-token-0123456789", "Content-Type": JSON},
        400,
        "Accept: application/json is required",
    ),
    (
        "postmark",
        "email/withTemplate",
        "{}",
        {"X-Postmark-Server-Token": "postmark-test-token-0123456789", "Content-Type": JSON},
        404,
        "no such endpoint",
    ),
    (
        "sendgrid",
        "mail/send",
        '{"from": {"email": "a@news.example.com"}, "subject": "Hi",'
        ' "personalizations": [{"to": [{"email": "b@example.com"}]}],'
        ' "content": [{"type": "text/html", "value": "<p>Hi</p>"}, {"type": "text/plain", "value": "Hi"}]}',
        {"Authorization": "Bearer SG.sendgrid-test-key.0123456789", "Content-Type": JSON},
        400,
        "text/plain must come first",
    ),
    (
        "sendgrid",
        "mail/send",
        {
            "from": {"email": "a@news.example.com"},
            "subject": "Hi",
            "content": [{"type": "text/plain", "value": "Hi"}],
            "personalizations": [{"to": [{"email": "b@example.com"}], "headers": {"To": "x"}}],
        },
        {"Authorization": "Bearer SG.sendgrid-test-key.0123456789", "Content-Type": JSON},
        400,
        "reserved headers may not be set: To",
    ),
    (
        "brevo",
        "smtp/email",
        '{"subject": "Hi", "textContent": "Hi", "to": [{"email": "b@example.com"}]}',
        {"api-key": "xkeysib-brevo-test-key-0123456789", "Content-Type": JSON},
        400,
        "sender is missing",
    ),
    (
        "resend",
        "emails/batch",
        '[{"from": "a@news.example.com", "to": ["b@example.com"], "subject": "Hi", "text": "Hi",'
        ' "attachments": [{"filename": "a.txt", "content": "SGk="}]}]',
        {"Authorization": "Bearer re_resend_test_key_0123456789", "Content-Type": JSON},
        400,
        "the batch endpoint does not support attachments",
    ),
    (
        "resend",
        "emails",
        "not json",
        {"Authorization": "Bearer re_resend_test_key_0123456789", "Content-Type": JSON},
        400,
        "the body is not JSON",
    ),
]


@pytest.mark.parametrize(("service", "path", "body", "headers", "status", "problem"), SHAPE_ERRORS)
def test_the_fake_refuses_what_the_service_refuses(fake, service, path, body, headers, status, problem):
    answer = post(fake, service, path, body, headers)
    assert answer.status_code == status
    assert problem in answer.text
    assert len(fake.violations) == 1
    assert fake.violations[0].startswith(f"{service}: ")
    assert problem in fake.violations[0]
    assert fake.received == {}


def test_the_fake_refuses_other_methods(fake):
    answer = requests.get(fake.url("resend") + "emails", timeout=5)
    assert answer.status_code == 405
    assert fake.violations == ["resend: GET is not allowed on /resend/emails"]


def test_ses_needs_a_from_address_for_simple_content(fake):
    # A session of its own: boto3's default one keeps the credentials an earlier test gave it.
    client = boto3.session.Session().client(
        "sesv2",
        endpoint_url=fake.url("ses"),
        region_name=AWS_REGION,
        config=Config(retries={"total_max_attempts": 1}),
    )
    try:
        with pytest.raises(client.exceptions.BadRequestException):
            client.send_email(
                Destination={"ToAddresses": ["b@example.com"]},
                Content={"Simple": {"Subject": {"Data": "Hi"}, "Body": {"Text": {"Data": "Hi"}}}},
            )
        assert fake.violations == ["ses: FromEmailAddress is required with Simple content"]

        fake.reset()
        client.send_email(
            FromEmailAddress="alerts@news.example.com",
            Destination={"ToAddresses": ["b@example.com"]},
            Content={"Simple": {"Subject": {"Data": "Hi"}, "Body": {"Text": {"Data": "Hello"}}}},
        )
    finally:
        client.close()
    assert fake.violations == []
    (got,) = fake.inbox("b@example.com")
    assert (got.subject, got.text, got.html) == ("Hi", "Hello", None)


def test_an_unsigned_ses_request_is_refused(fake):
    answer = post(fake, "ses", "/v2/email/outbound-emails", "{}", {"Content-Type": JSON})
    assert answer.status_code == 403
    assert answer.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert (fake.calls, fake.violations) == (0, [])
