"""Mailgun, Postmark, SendGrid, Brevo, Resend and Amazon SES (v2) faked on 127.0.0.1.

The app sends alerts through django-anymail to whichever of them a deployment picks, and no test can
reach them. The fake checks each call against what its service documents, answers as the service does
(so ``message.anymail_status`` is as in production), and records what each recipient would get after
the service's own substitutions. A call the service would refuse gets a 400 naming the problem, which
is also kept in ``fake.violations``.
"""

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import re
import socket
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote, urlsplit

SERVICES = ("mailgun", "postmark", "sendgrid", "brevo", "resend", "ses")
BACKENDS = {
    "mailgun": "anymail.backends.mailgun.EmailBackend",
    "postmark": "anymail.backends.postmark.EmailBackend",
    "sendgrid": "anymail.backends.sendgrid.EmailBackend",
    "brevo": "anymail.backends.brevo.EmailBackend",
    "resend": "anymail.backends.resend.EmailBackend",
    "ses": "anymail.backends.amazon_ses.EmailBackend",
}

# Each service's documented ceilings for one API call.
MAILGUN_MAX_RECIPIENTS = 1000  # to + cc + bcc
POSTMARK_MAX_BATCH = 500  # messages in /email/batch
POSTMARK_MAX_RECIPIENTS = 50  # To + Cc + Bcc of one message
SENDGRID_MAX_PERSONALIZATIONS = 1000
SENDGRID_MAX_RECIPIENTS = 1000  # to + cc + bcc over all personalizations
SENDGRID_MAX_SUBSTITUTION_BYTES = 10000  # per personalization
BREVO_MAX_VERSIONS = 1000
BREVO_MAX_RECIPIENTS = 2000  # over all message versions
BREVO_MAX_VERSION_RECIPIENTS = 99
RESEND_MAX_BATCH = 100
RESEND_MAX_RECIPIENTS = 50  # in "to", per email
SES_MAX_RECIPIENTS = 50  # To + Cc + Bcc

# What the fake accepts by default; made up.
MAILGUN_KEY = "mailgun-test-key-0123456789"
MAILGUN_DOMAIN = "news.example.com"
POSTMARK_TOKEN = "postmark-test-token-0123456789"
SENDGRID_KEY = "SG.sendgrid-test-key.0123456789"
BREVO_KEY = "xkeysib-brevo-test-key-0123456789"
RESEND_KEY = "re_resend_test_key_0123456789"
AWS_ACCESS_KEY_ID = "AKIAFAKEESP000000000"
AWS_SECRET_ACCESS_KEY = "fake-esp-secret-access-key-0123456789"
AWS_REGION = "us-east-1"

# Headers that the raw MIME of an SES message always has; the rest are the ones the sender added.
_MIME_OWN_HEADERS = frozenset(
    {"from", "to", "cc", "bcc", "subject", "date", "message-id", "mime-version", "content-type"}
    | {"content-transfer-encoding"}
)
_SENDGRID_RESERVED_HEADERS = frozenset(
    {"x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type", "content-transfer-encoding"}
    | {"to", "from", "subject", "reply-to", "cc", "bcc"}
)
_MAILGUN_VARIABLE = re.compile(r"%recipient\.([^%\s]+)%")
_BREVO_PARAM = re.compile(r"\{\{\s*params\.(\w+)\s*\}\}")


@dataclass(slots=True)
class Delivery:
    """One message as one recipient would get it, after the service's substitutions.

    ``recipient`` is the lower-cased address; ``headers`` are only those the call asked for (Mailgun's
    ``h:`` fields, the ``headers`` of the JSON APIs, the non-structural headers of an SES raw message).
    """

    service: str
    recipient: str
    subject: str
    text: str | None
    html: str | None
    headers: dict
    message_id: str | None = None


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: str
    headers: dict  # lower-cased names
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass(slots=True)
class Answer:
    status: int = 200
    body: bytes = b""
    type: str = "application/json"
    headers: dict = field(default_factory=dict)

    @classmethod
    def json(cls, data, status=200, **kwargs):
        return cls(status=status, body=json.dumps(data).encode(), **kwargs)


@dataclass(slots=True)
class _Envelope:
    """A message the service builds from a call, and the recipients who get it.

    ``render(recipient)`` gives (subject, text, html, headers) for one recipient; it is only called when
    deliveries are recorded in full, so counting 100,000 recipients costs no rendering.
    """

    recipients: list
    render: object
    message_id: str | None = None
    label: str | None = None  # Postmark: the To it answers with


class _Refused(Exception):
    """The body cannot be read at all (not JSON, not a form): a violation, with no recipients."""


def _addresses(values):
    """Lower-cased addr-specs of "Name <a@b>" strings, each possibly a comma-separated list."""
    if isinstance(values, str):
        values = [values]
    return [addr.lower() for _name, addr in getaddresses(values) if addr]


def _same_for_all(subject, text, html, headers):
    """The render of a message every recipient gets unchanged."""
    return lambda _recipient: (subject, text, html, dict(headers))


def _text(value):
    return value if isinstance(value, str) else json.dumps(value)


def _media_type(request):
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _json_body(request, expected):
    if _media_type(request) != "application/json":
        raise _Refused(f"Content-Type must be application/json, not {request.headers.get('content-type')!r}")
    try:
        data = request.json()
    except ValueError as error:
        raise _Refused(f"the body is not JSON: {error}") from None
    if not isinstance(data, expected):
        raise _Refused(f"the body must be a JSON {expected.__name__}")
    return data


def _message_id():
    return str(uuid.uuid4())


class _Service:
    name = ""

    def __init__(self, fake):
        self.fake = fake

    def route(self, request, path):
        """The endpoint's name, or an Answer refusing the path or method (a violation)."""
        raise NotImplementedError

    def authenticate(self, request):
        """None, or the service's refusal of missing or wrong credentials (never a violation)."""
        raise NotImplementedError

    def error(self, status, message):
        raise NotImplementedError

    def parse(self, request, endpoint, problems):
        """The envelopes of the call; problems found are appended to ``problems``."""
        raise NotImplementedError

    def accept(self, request, endpoint, envelopes, rejected):
        """(answer, [(recipient, envelope)] to deliver, [recipient] suppressed), once the call is valid."""
        raise NotImplementedError

    def not_found(self, request):
        return self.fake._violation(self, f"no such endpoint: {request.method} {request.path}", 404)

    def method_not_allowed(self, request):
        return self.fake._violation(self, f"{request.method} is not allowed on {request.path}", 405)

    def accept_all(self, envelopes, rejected):
        """What five of the six do with suppressed recipients: take the call, then not deliver to them."""
        deliveries, suppressed = [], []
        for envelope in envelopes:
            for recipient in envelope.recipients:
                if recipient in rejected:
                    suppressed.append(recipient)
                else:
                    deliveries.append((recipient, envelope))
        return deliveries, suppressed


class _Mailgun(_Service):
    """POST /v3/<domain>/messages, HTTP Basic ``api:<key>``, a form (urlencoded or multipart).

    With ``recipient-variables`` each "to" gets a message of their own, with ``%recipient.KEY%``
    replaced everywhere (subject, bodies, ``h:`` headers); without it one message goes to all.
    """

    name = "mailgun"

    def route(self, request, path):
        found = re.fullmatch(r"/v3/([^/]+)/messages", path)
        if not found:
            return self.not_found(request)
        if request.method != "POST":
            return self.method_not_allowed(request)
        domain = unquote(found[1])
        if domain != self.fake.mailgun_domain:
            # Mailgun's own answer, which anymail turns into "Unknown sender domain".
            return self.fake._violation(self, f"Domain not found: {domain}", 404)
        return "messages"

    def authenticate(self, request):
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            user, _, key = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user = key = None
        if scheme.lower() != "basic" or user != "api" or key != self.fake.mailgun_key:
            return Answer(status=401, body=b"Forbidden", type="text/plain")
        return None

    def error(self, status, message):
        return Answer.json({"message": message}, status=status)

    def form(self, request):
        kind = _media_type(request)
        if kind == "application/x-www-form-urlencoded":
            try:
                return parse_qsl(request.body.decode(), keep_blank_values=True, strict_parsing=True)
            except (UnicodeDecodeError, ValueError) as error:
                raise _Refused(f"the form cannot be read: {error}") from None
        if kind == "multipart/form-data":
            head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
            message = BytesParser(policy=policy.HTTP).parsebytes(head + request.body)
            if not message.is_multipart():
                raise _Refused("the multipart body cannot be read")
            fields = []
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if part.get_filename() is None and name:
                    fields.append((name, part.get_payload(decode=True).decode()))
            return fields
        raise _Refused(
            "Content-Type must be multipart/form-data or application/x-www-form-urlencoded, "
            f"not {request.headers.get('content-type')!r}"
        )

    def parse(self, request, endpoint, problems):
        fields = self.form(request)
        values = {}
        for name, value in fields:
            values.setdefault(name, []).append(value)
        for required in ("from", "to", "subject"):
            if not values.get(required):
                problems.append(f"'{required}' parameter is missing")
        if not any(values.get(body) for body in ("text", "html", "amp-html", "template")):
            problems.append("Need at least one of 'text', 'html' or 'template' parameters specified")
        to = _addresses(values.get("to", []))
        others = _addresses(values.get("cc", []) + values.get("bcc", []))
        if len(to) + len(others) > MAILGUN_MAX_RECIPIENTS:
            problems.append(
                f"{len(to) + len(others)} recipients: Mailgun takes at most {MAILGUN_MAX_RECIPIENTS} per call"
            )
        subject = values.get("subject", [""])[-1]
        text = values.get("text", [None])[-1]
        html = values.get("html", [None])[-1]
        headers = {name[2:]: value[-1] for name, value in values.items() if name.startswith("h:")}
        if "recipient-variables" not in values:
            return [_Envelope(to + others, _same_for_all(subject, text, html, headers))]
        try:
            variables = json.loads(values["recipient-variables"][-1])
        except ValueError:
            variables = None
        if not isinstance(variables, dict) or not all(isinstance(v, dict) for v in variables.values()):
            problems.append("'recipient-variables' must be a JSON object of objects")
            return []
        variables = {address.lower(): data for address, data in variables.items()}

        def render(recipient):
            data = variables.get(recipient, {})

            def substitute(value):
                if value is None:
                    return None
                return _MAILGUN_VARIABLE.sub(lambda m: _text(data[m[1]]) if m[1] in data else m[0], value)

            return (
                substitute(subject),
                substitute(text),
                substitute(html),
                {name: substitute(value) for name, value in headers.items()},
            )

        # A batch: one message per "to"; cc and bcc get each of them, with no variables of their own.
        return [_Envelope([recipient] + others, render) for recipient in to]

    def accept(self, request, endpoint, envelopes, rejected):
        message_id = f"<{datetime.now(UTC):%Y%m%d%H%M%S}.{uuid.uuid4().hex[:12]}@{self.fake.mailgun_domain}>"
        for envelope in envelopes:
            envelope.message_id = message_id
        deliveries, suppressed = self.accept_all(envelopes, rejected)
        return Answer.json({"id": message_id, "message": "Queued. Thank you."}), deliveries, suppressed


class _Postmark(_Service):
    """POST /email (one message) and /email/batch (a list of at most 500), JSON both ways.

    Inactive (rejected) recipients: a message whose recipients are all inactive gets ErrorCode 406 (a
    422 for /email; an item of the 200 list for /email/batch); one with some is sent to the others,
    with "Message OK, but will not deliver to these inactive addresses" in its answer.
    """

    name = "postmark"

    def route(self, request, path):
        if path not in ("/email", "/email/batch"):
            return self.not_found(request)
        if request.method != "POST":
            return self.method_not_allowed(request)
        return path.removeprefix("/")

    def authenticate(self, request):
        token = request.headers.get("x-postmark-server-token")
        if token is None:
            message = "No Account or Server API tokens were supplied in the HTTP headers."
        elif token != self.fake.postmark_token:
            message = "Request does not contain a valid Server token."
        else:
            return None
        return Answer.json({"ErrorCode": 10, "Message": message}, status=401)

    def error(self, status, message):
        return Answer.json({"ErrorCode": 300 if status < 500 else 500, "Message": message}, status=status)

    def parse(self, request, endpoint, problems):
        if request.headers.get("accept", "").split(";")[0].strip() != "application/json":
            problems.append("Accept: application/json is required")
        data = _json_body(request, list if endpoint == "email/batch" else dict)
        messages = data if endpoint == "email/batch" else [data]
        if endpoint == "email/batch" and len(messages) > POSTMARK_MAX_BATCH:
            problems.append(
                f"{len(messages)} messages: Postmark takes at most {POSTMARK_MAX_BATCH} per batch"
            )
        envelopes = []
        for number, message in enumerate(messages):
            where = f"message {number}: " if endpoint == "email/batch" else ""
            if not isinstance(message, dict):
                problems.append(f"{where}not a JSON object")
                continue
            envelopes.append(self.envelope(message, where, problems))
        return envelopes

    def envelope(self, message, where, problems):
        if not message.get("From"):
            problems.append(f"{where}Invalid 'From' address: ''.")
        if not (message.get("TextBody") or message.get("HtmlBody")):
            problems.append(f"{where}Provide either email TextBody or HtmlBody or both.")
        recipients = _addresses([message.get(kind) or "" for kind in ("To", "Cc", "Bcc")])
        if not recipients:
            problems.append(f"{where}Zero recipients specified")
        if len(recipients) > POSTMARK_MAX_RECIPIENTS:
            problems.append(
                f"{where}{len(recipients)} recipients: Postmark takes at most {POSTMARK_MAX_RECIPIENTS}"
                " (To, Cc and Bcc together) per message"
            )
        headers = message.get("Headers") or []
        if not isinstance(headers, list) or not all(
            isinstance(item, dict) and set(item) == {"Name", "Value"} for item in headers
        ):
            problems.append(f"{where}Headers must be a list of {{Name, Value}} objects")
            headers = []
        render = _same_for_all(
            message.get("Subject") or "",
            message.get("TextBody"),
            message.get("HtmlBody"),
            {item["Name"]: item["Value"] for item in headers},
        )
        return _Envelope(recipients, render, label=message.get("To"))

    def accept(self, request, endpoint, envelopes, rejected):
        results, deliveries, suppressed = [], [], []
        submitted = datetime.now(UTC).isoformat()
        for envelope in envelopes:
            inactive = [recipient for recipient in envelope.recipients if recipient in rejected]
            suppressed += inactive
            if inactive and len(inactive) == len(envelope.recipients):
                results.append(
                    {
                        "ErrorCode": 406,
                        "Message": "You tried to send to recipient(s) that have been marked as inactive. "
                        f"Found inactive addresses: {', '.join(inactive)}. Inactive recipients are ones that "
                        "have generated a hard bounce, a spam complaint, or a manual suppression.",
                    }
                )
                continue
            envelope.message_id = _message_id()
            deliveries += [(r, envelope) for r in envelope.recipients if r not in inactive]
            text = "OK"
            if inactive:
                text = (
                    f"Message OK, but will not deliver to these inactive addresses: {', '.join(inactive)}. "
                    "Inactive recipients are ones that have generated a hard bounce or a spam complaint."
                )
            results.append(
                {
                    "To": envelope.label,
                    "SubmittedAt": submitted,
                    "MessageID": envelope.message_id,
                    "ErrorCode": 0,
                    "Message": text,
                }
            )
        if endpoint == "email/batch":
            return Answer.json(results), deliveries, suppressed
        (result,) = results
        return Answer.json(result, status=422 if result["ErrorCode"] else 200), deliveries, suppressed


class _SendGrid(_Service):
    """POST /v3/mail/send, ``Authorization: Bearer``, JSON with ``personalizations``; answers 202, no body.

    Each personalization's ``substitutions`` replace their keys, literally, in the subject and the
    content (not in headers, as SendGrid documents); its ``headers`` are added to the top-level ones.
    """

    name = "sendgrid"

    def route(self, request, path):
        if path != "/v3/mail/send":
            return self.not_found(request)
        if request.method != "POST":
            return self.method_not_allowed(request)
        return "mail/send"

    def authenticate(self, request):
        authorization = request.headers.get("authorization")
        if authorization is None:
            message = "authorization required"
        elif authorization != f"Bearer {self.fake.sendgrid_key}":
            message = "The provided authorization grant is invalid, expired, or revoked"
        else:
            return None
        return self.error(401, message)

    def error(self, status, message):
        return Answer.json({"errors": [{"message": message, "field": None, "help": None}]}, status=status)

    def parse(self, request, endpoint, problems):
        data = _json_body(request, dict)
        sender = data.get("from")
        if not isinstance(sender, dict) or not sender.get("email"):
            problems.append("The from object must be provided for every email send.")
        personalizations = data.get("personalizations")
        if not isinstance(personalizations, list) or not personalizations:
            problems.append(
                "The personalizations field is required and must have at least one personalization."
            )
            return []
        if len(personalizations) > SENDGRID_MAX_PERSONALIZATIONS:
            problems.append(
                f"{len(personalizations)} personalizations: SendGrid takes at most "
                f"{SENDGRID_MAX_PERSONALIZATIONS} per call"
            )
        templated = "template_id" in data
        content = data.get("content") or []
        if not templated:
            if not content:
                problems.append("Unless a valid template_id is provided, the content parameter is required.")
            types = [item.get("type") for item in content if isinstance(item, dict)]
            if len(types) != len(content) or any(not item.get("value") for item in content):
                problems.append("Each content item needs a type and a non-empty value.")
            expected = [kind for kind in ("text/plain", "text/html") if kind in types]
            if types[: len(expected)] != expected:
                problems.append("text/plain must come first, then text/html, in the content array.")
        every_subject = all(isinstance(p, dict) and p.get("subject") for p in personalizations)
        if not (data.get("subject") or templated or every_subject):
            problems.append("The subject is required, globally or in every personalization.")
        headers = self.headers(data.get("headers") or {}, "headers", problems)
        text = next((item["value"] for item in content if item.get("type") == "text/plain"), None)
        html = next((item["value"] for item in content if item.get("type") == "text/html"), None)
        envelopes, total = [], 0
        for number, personalization in enumerate(personalizations):
            where = f"personalizations.{number}"
            if not isinstance(personalization, dict):
                problems.append(f"{where} must be an object")
                continue
            recipients = []
            for kind in ("to", "cc", "bcc"):
                people = personalization.get(kind) or []
                if not isinstance(people, list) or not all(
                    isinstance(p, dict) and p.get("email") for p in people
                ):
                    problems.append(f"{where}.{kind} must be a list of objects with an email")
                    continue
                recipients += [p["email"].lower() for p in people]
            if not personalization.get("to"):
                problems.append(f"{where}.to is required")
            if len(set(recipients)) != len(recipients):
                problems.append(f"{where}: each address may appear once among to, cc and bcc")
            total += len(recipients)
            substitutions = personalization.get("substitutions") or {}
            if not all(isinstance(v, str) for v in substitutions.values()):
                problems.append(f"{where}.substitutions values must be strings")
                substitutions = {}
            if len(json.dumps(substitutions).encode()) > SENDGRID_MAX_SUBSTITUTION_BYTES:
                problems.append(f"{where}.substitutions exceed {SENDGRID_MAX_SUBSTITUTION_BYTES} bytes")
            own_headers = self.headers(personalization.get("headers") or {}, f"{where}.headers", problems)
            subject = personalization.get("subject") or data.get("subject") or ""
            envelopes.append(
                _Envelope(
                    recipients, self.renderer(subject, text, html, headers | own_headers, substitutions)
                )
            )
            envelopes[-1].message_id = (personalization.get("custom_args") or {}).get("anymail_id")
        if total > SENDGRID_MAX_RECIPIENTS:
            problems.append(
                f"{total} recipients: SendGrid takes at most {SENDGRID_MAX_RECIPIENTS} per call "
                "(to, cc and bcc of all personalizations)"
            )
        return envelopes

    @staticmethod
    def headers(headers, where, problems):
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            problems.append(f"{where} must be an object of strings")
            return {}
        reserved = sorted(name for name in headers if name.lower() in _SENDGRID_RESERVED_HEADERS)
        if reserved:
            problems.append(f"{where}: reserved headers may not be set: {', '.join(reserved)}")
        return headers

    @staticmethod
    def renderer(subject, text, html, headers, substitutions):
        pattern = None
        if substitutions:
            keys = sorted(substitutions, key=len, reverse=True)
            pattern = re.compile("|".join(map(re.escape, keys)))

        def substitute(value):
            if value is None or pattern is None:
                return value
            return pattern.sub(lambda m: substitutions[m[0]], value)

        return lambda _recipient: (substitute(subject), substitute(text), substitute(html), dict(headers))

    def accept(self, request, endpoint, envelopes, rejected):
        queued = uuid.uuid4().hex[:22]
        for envelope in envelopes:
            envelope.message_id = envelope.message_id or queued
        deliveries, suppressed = self.accept_all(envelopes, rejected)
        return Answer(status=202, headers={"X-Message-Id": queued}), deliveries, suppressed


class _Brevo(_Service):
    """POST /v3/smtp/email, header ``api-key``, JSON; a batch is ``messageVersions``, answered 201.

    ``{{ params.NAME }}`` in the subject and bodies takes the version's ``params`` over the global ones
    (missing ones render empty, as in Brevo's template language); a version's ``headers`` are added to
    the global ones.
    """

    name = "brevo"

    def route(self, request, path):
        if path != "/v3/smtp/email":
            return self.not_found(request)
        if request.method != "POST":
            return self.method_not_allowed(request)
        return "smtp/email"

    def authenticate(self, request):
        if request.headers.get("api-key") != self.fake.brevo_key:
            return Answer.json({"code": "unauthorized", "message": "Key not found"}, status=401)
        return None

    def error(self, status, message):
        code = "invalid_parameter" if status < 500 else "internal_error"
        return Answer.json({"code": code, "message": message}, status=status)

    def parse(self, request, endpoint, problems):
        data = _json_body(request, dict)
        templated = "templateId" in data
        if not templated:
            sender = data.get("sender")
            if not isinstance(sender, dict) or not sender.get("email"):
                problems.append("sender is missing")
            if not data.get("subject"):
                problems.append("subject is missing")
            if not (data.get("htmlContent") or data.get("textContent")):
                problems.append("htmlContent or textContent is missing")
        versions = data.get("messageVersions")
        if versions is None:
            versions = [{"to": data.get("to")}]
            if not data.get("to"):
                problems.append("to is missing")
        elif not isinstance(versions, list) or not versions:
            problems.append("messageVersions must be a non-empty list")
            return []
        if len(versions) > BREVO_MAX_VERSIONS:
            problems.append(
                f"{len(versions)} messageVersions: Brevo takes at most {BREVO_MAX_VERSIONS} per call"
            )
        envelopes, total = [], 0
        for number, version in enumerate(versions):
            where = f"messageVersions[{number}]" if "messageVersions" in data else "to"
            if not isinstance(version, dict):
                problems.append(f"{where} must be an object")
                continue
            to = self.people(version.get("to"), where, problems)
            copies = self.people(version.get("cc", data.get("cc")), "cc", problems)
            copies += self.people(version.get("bcc", data.get("bcc")), "bcc", problems)
            if "messageVersions" in data and not 1 <= len(to) <= BREVO_MAX_VERSION_RECIPIENTS:
                problems.append(f"{where}.to: 1 to {BREVO_MAX_VERSION_RECIPIENTS} recipients per version")
            total += len(to) + len(copies)
            headers = {**(data.get("headers") or {}), **(version.get("headers") or {})}
            if not all(isinstance(v, str) for v in headers.values()):
                problems.append(f"{where}: header values must be strings")
            params = {**(data.get("params") or {}), **(version.get("params") or {})}
            content = [version.get(key, data.get(key)) for key in ("subject", "textContent", "htmlContent")]
            envelopes.append(_Envelope(to + copies, self.renderer(content, headers, params)))
        if total > BREVO_MAX_RECIPIENTS:
            problems.append(f"{total} recipients: Brevo takes at most {BREVO_MAX_RECIPIENTS} per call")
        return envelopes

    @staticmethod
    def people(people, where, problems):
        if people is None:
            return []
        if not isinstance(people, list) or not all(isinstance(p, dict) and p.get("email") for p in people):
            problems.append(f"{where} must be a list of objects with an email")
            return []
        return [p["email"].lower() for p in people]

    @staticmethod
    def renderer(content, headers, params):
        def substitute(value):
            if value is None:
                return None
            return _BREVO_PARAM.sub(lambda m: _text(params[m[1]]) if m[1] in params else "", value)

        def render(_recipient):
            subject, text, html = (substitute(value) for value in content)
            return subject or "", text, html, dict(headers)

        return render

    def accept(self, request, endpoint, envelopes, rejected):
        for envelope in envelopes:
            envelope.message_id = (
                f"<{datetime.now(UTC):%Y%m%d%H%M%S}.{uuid.uuid4().hex}@smtp-relay.mailin.fr>"
            )
        deliveries, suppressed = self.accept_all(envelopes, rejected)
        if "messageVersions" in request.json():
            answer = {"messageIds": [envelope.message_id for envelope in envelopes]}
        else:
            answer = {"messageId": envelopes[0].message_id}
        return Answer.json(answer, status=201), deliveries, suppressed


class _Resend(_Service):
    """POST /emails (one email) and /emails/batch (at most 100, without attachments or scheduled_at)."""

    name = "resend"

    def route(self, request, path):
        if path not in ("/emails", "/emails/batch"):
            return self.not_found(request)
        if request.method != "POST":
            return self.method_not_allowed(request)
        return path.removeprefix("/")

    def authenticate(self, request):
        authorization = request.headers.get("authorization")
        if authorization is None:
            return self.answer(401, "missing_api_key", "Missing API key in the authorization header")
        if authorization != f"Bearer {self.fake.resend_key}":
            return self.answer(403, "invalid_api_key", "API key is invalid")
        return None

    @staticmethod
    def answer(status, name, message):
        return Answer.json({"statusCode": status, "name": name, "message": message}, status=status)

    def error(self, status, message):
        return self.answer(status, "validation_error" if status < 500 else "internal_server_error", message)

    def parse(self, request, endpoint, problems):
        if not request.headers.get("user-agent"):
            problems.append("a User-Agent header is required")
        batch = endpoint == "emails/batch"
        data = _json_body(request, list if batch else dict)
        emails = data if batch else [data]
        if batch and len(emails) > RESEND_MAX_BATCH:
            problems.append(f"{len(emails)} emails: Resend takes at most {RESEND_MAX_BATCH} per batch")
        envelopes = []
        for number, email in enumerate(emails):
            where = f"emails[{number}]: " if batch else ""
            if not isinstance(email, dict):
                problems.append(f"{where}not a JSON object")
                continue
            for required in ("from", "to", "subject"):
                if not email.get(required):
                    problems.append(f"{where}the `{required}` field is missing")
            if not any(email.get(body) is not None for body in ("html", "text", "react", "template")):
                problems.append(f"{where}one of `html`, `text` or `template` is required")
            if batch:
                unsupported = sorted({"attachments", "scheduled_at"} & set(email))
                if unsupported:
                    problems.append(f"{where}the batch endpoint does not support {', '.join(unsupported)}")
            to = _addresses(email.get("to") or [])
            if len(to) > RESEND_MAX_RECIPIENTS:
                problems.append(
                    f"{where}{len(to)} recipients in `to`: Resend takes at most {RESEND_MAX_RECIPIENTS}"
                )
            copies = _addresses((email.get("cc") or []) + (email.get("bcc") or []))
            headers = email.get("headers") or {}
            if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
                problems.append(f"{where}headers must be an object of strings")
                headers = {}
            render = _same_for_all(email.get("subject") or "", email.get("text"), email.get("html"), headers)
            envelopes.append(_Envelope(to + copies, render))
        return envelopes

    def accept(self, request, endpoint, envelopes, rejected):
        for envelope in envelopes:
            envelope.message_id = _message_id()
        deliveries, suppressed = self.accept_all(envelopes, rejected)
        if endpoint == "emails/batch":
            answer = {"data": [{"id": envelope.message_id} for envelope in envelopes]}
        else:
            answer = {"id": envelopes[0].message_id}
        return Answer.json(answer), deliveries, suppressed


class _SES(_Service):
    """SESv2 SendEmail: POST /v2/email/outbound-emails, signed with AWS Signature Version 4 (checked in
    full against the fake's secret key), JSON with ``Content.Raw.Data`` (base64 MIME) or ``Simple``.
    """

    name = "ses"

    def route(self, request, path):
        if path != "/v2/email/outbound-emails":
            return self.not_found(request)
        if request.method != "POST":
            return self.method_not_allowed(request)
        return "SendEmail"

    @staticmethod
    def answer(status, kind, message):
        return Answer.json({"message": message}, status=status, headers={"x-amzn-ErrorType": kind})

    def error(self, status, message):
        kind = {429: "TooManyRequestsException"}.get(status, "BadRequestException")
        if status >= 500:
            kind = "InternalFailure"
        return self.answer(status, kind, message)

    def authenticate(self, request):
        found = re.fullmatch(
            r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,\s*"
            r"SignedHeaders=([^,]+),\s*Signature=([0-9a-f]{64})",
            request.headers.get("authorization", ""),
        )
        if not found:
            return self.answer(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        key_id, day, region, service, signed, signature = found.groups()
        if key_id != self.fake.aws_access_key_id:
            return self.answer(
                403, "UnrecognizedClientException", "The security token included in the request is invalid."
            )
        stamp = request.headers.get("x-amz-date", "")
        if service != "ses" or region != self.fake.aws_region or not stamp.startswith(day):
            return self.answer(403, "InvalidSignatureException", "Credential should be scoped correctly.")
        if not hmac.compare_digest(signature, self.signature(request, day, region, signed.split(";"))):
            return self.answer(
                403,
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided.",
            )
        return None

    def signature(self, request, day, region, signed):
        canonical = "\n".join(
            [
                request.method,
                quote(request.path, safe="/~"),
                "&".join(sorted(request.query.split("&"))) if request.query else "",
                "".join(f"{name}:{' '.join(request.headers.get(name, '').split())}\n" for name in signed),
                ";".join(signed),
                request.headers.get("x-amz-content-sha256") or hashlib.sha256(request.body).hexdigest(),
            ]
        )
        scope = f"{day}/{region}/ses/aws4_request"
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256",
                request.headers["x-amz-date"],
                scope,
                hashlib.sha256(canonical.encode()).hexdigest(),
            ]
        )
        key = f"AWS4{self.fake.aws_secret_access_key}".encode()
        for part in (day, region, "ses", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()

    def parse(self, request, endpoint, problems):
        data = _json_body(request, dict)
        content = data.get("Content")
        kinds = sorted(set(content or {}) & {"Simple", "Raw", "Template"})
        if not isinstance(content, dict) or len(kinds) != 1:
            problems.append("Content must hold exactly one of Simple, Raw or Template")
            return []
        destination = data.get("Destination") or {}
        recipients = _addresses(
            [a for kind in ("ToAddresses", "CcAddresses", "BccAddresses") for a in destination.get(kind, [])]
        )
        if kinds == ["Template"]:
            problems.append("Content.Template: this fake emulates SendEmail with Raw or Simple content only")
            return []
        if kinds == ["Simple"]:
            rendered = self.simple(data, content["Simple"], problems)
        else:
            rendered, message = self.raw(content["Raw"], problems)
            if not destination:
                # Without a Destination, SES sends to the raw message's own To and Cc.
                recipients = _addresses(message.get_all("to", []) + message.get_all("cc", []))
        if not recipients:
            problems.append("at least one recipient is required")
        if len(recipients) > SES_MAX_RECIPIENTS:
            problems.append(
                f"{len(recipients)} recipients: SES takes at most {SES_MAX_RECIPIENTS} per message"
                " (To, Cc and Bcc)"
            )
        return [_Envelope(recipients, _same_for_all(*rendered))]

    @staticmethod
    def simple(data, simple, problems):
        if not data.get("FromEmailAddress"):
            problems.append("FromEmailAddress is required with Simple content")
        subject = (simple.get("Subject") or {}).get("Data")
        body = simple.get("Body") or {}
        text, html = ((body.get(kind) or {}).get("Data") for kind in ("Text", "Html"))
        if subject is None or (text is None and html is None):
            problems.append("Simple content needs a Subject and a Text or Html body")
        headers = {item.get("Name"): item.get("Value") for item in simple.get("Headers") or []}
        return subject or "", text, html, headers

    @staticmethod
    def raw(raw, problems):
        try:
            message = BytesParser(policy=policy.default).parsebytes(
                base64.b64decode(raw["Data"], validate=True)
            )
        except (KeyError, TypeError, binascii.Error):
            problems.append("Content.Raw.Data must be base64")
            return ("", None, None, {}), BytesParser(policy=policy.default).parsebytes(b"")
        if not message.get("from"):
            problems.append("the raw message has no From header")

        def body(kind):
            part = message.get_body(preferencelist=(kind,))
            return part.get_content() if part is not None else None

        headers = {
            name: str(value) for name, value in message.items() if name.lower() not in _MIME_OWN_HEADERS
        }
        return (str(message.get("subject", "")), body("plain"), body("html"), headers), message

    def accept(self, request, endpoint, envelopes, rejected):
        (envelope,) = envelopes
        envelope.message_id = f"0100{uuid.uuid4().hex[:12]}-{uuid.uuid4()}-000000"
        # Addresses on the account's suppression list are accepted, then bounced by SES itself.
        deliveries, suppressed = self.accept_all(envelopes, rejected)
        return Answer.json({"MessageId": envelope.message_id}), deliveries, suppressed


_SERVICE_CLASSES = {cls.name: cls for cls in (_Mailgun, _Postmark, _SendGrid, _Brevo, _Resend, _SES)}
# The base path anymail is given for each (MAILGUN_API_URL and the like), under the service's prefix.
_API_ROOTS = {
    "mailgun": "/v3",
    "postmark": "/",
    "sendgrid": "/v3/",
    "brevo": "/v3/",
    "resend": "/",
    "ses": "",
}


class FakeEmailService:
    """All six services on one ThreadingHTTPServer, each under its own path prefix (``/mailgun/…``).

    ``record="full"`` keeps a Delivery per recipient (``deliveries``, ``inbox(address)``); ``"count"``
    only counts (``received``), for the 100,000-recipient benchmark. Either way ``calls`` counts the
    authenticated send calls and ``recipients_per_call`` their recipients, refused calls included.
    """

    def __init__(
        self,
        *,
        record="full",
        mailgun_key=MAILGUN_KEY,
        mailgun_domain=MAILGUN_DOMAIN,
        postmark_token=POSTMARK_TOKEN,
        sendgrid_key=SENDGRID_KEY,
        brevo_key=BREVO_KEY,
        resend_key=RESEND_KEY,
        aws_access_key_id=AWS_ACCESS_KEY_ID,
        aws_secret_access_key=AWS_SECRET_ACCESS_KEY,
        aws_region=AWS_REGION,
    ):
        if record not in ("full", "count"):
            raise ValueError(f"record must be 'full' or 'count', not {record!r}")
        self.record = record
        self.mailgun_key = mailgun_key
        self.mailgun_domain = mailgun_domain
        self.postmark_token = postmark_token
        self.sendgrid_key = sendgrid_key
        self.brevo_key = brevo_key
        self.resend_key = resend_key
        self.aws_access_key_id = aws_access_key_id
        self.aws_secret_access_key = aws_secret_access_key
        self.aws_region = aws_region
        self._services = {name: cls(self) for name, cls in _SERVICE_CLASSES.items()}
        self._lock = threading.Lock()
        self.reset()
        self.server = _Server(("127.0.0.1", 0), type("Handler", (_Handler,), {"fake": self}))
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def url(self, service):
        """The base URL to give anymail for ``service`` (its *_API_URL, or SES's endpoint_url)."""
        if service not in self._services:
            raise ValueError(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
        return f"http://127.0.0.1:{self.port}/{service}{_API_ROOTS[service]}"

    def anymail_settings(self, service):
        """The ANYMAIL setting that sends through ``service`` here (SES: credentials come from the
        environment, as boto3 finds them)."""
        url = self.url(service)
        return {
            "mailgun": {"MAILGUN_API_KEY": self.mailgun_key, "MAILGUN_API_URL": url},
            "postmark": {"POSTMARK_SERVER_TOKEN": self.postmark_token, "POSTMARK_API_URL": url},
            "sendgrid": {"SENDGRID_API_KEY": self.sendgrid_key, "SENDGRID_API_URL": url},
            "brevo": {"BREVO_API_KEY": self.brevo_key, "BREVO_API_URL": url},
            "resend": {"RESEND_API_KEY": self.resend_key, "RESEND_API_URL": url},
            "ses": {"AMAZON_SES_CLIENT_PARAMS": {"endpoint_url": url, "region_name": self.aws_region}},
        }[service]

    def reset(self):
        """Forget everything recorded, and any failures or rejections set up."""
        with self._lock:
            self.violations = []
            self.deliveries = []
            self.received = Counter()
            self.suppressed = Counter()
            self.calls = 0
            self.recipients_per_call = []
            self._failures = []
            self._rejected = frozenset()

    def fail_next(self, n=1, status=503):
        """The next ``n`` authenticated send calls get ``status`` (in the service's error shape) and
        deliver nothing; they are counted in ``calls``. Violations in them are still recorded."""
        with self._lock:
            self._failures += [status] * n

    def reject(self, addresses):
        """Treat these addresses as suppressed (they bounced or complained) from now on.

        Postmark refuses them in its answer: ErrorCode 406 for a message to none but them (anymail:
        "rejected", and AnymailRecipientsRefused if no one is left), or "Message OK, but will not
        deliver to these inactive addresses" for one with others. The other five take the call and drop
        them later, as their suppression lists do, so anymail says "queued" as it would in production.
        Either way they are counted in ``suppressed``, not in ``received``.
        """
        with self._lock:
            self._rejected = self._rejected | {address.lower() for address in addresses}

    def inbox(self, recipient):
        with self._lock:
            return [d for d in self.deliveries if d.recipient == recipient.lower()]

    def stop(self):
        self.server.shutdown()
        self.server.close_connections()
        self.server.server_close()
        self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def _violation(self, service, message, status=400):
        with self._lock:
            self.violations.append(f"{service.name}: {message}")
        return service.error(status, message)

    def _respond(self, request):
        prefix, _, rest = request.path.lstrip("/").partition("/")
        service = self._services.get(prefix)
        if service is None:
            return Answer.json({"message": f"no fake service at {request.path}"}, status=404)
        try:
            return self._serve(service, request, "/" + rest)
        except Exception as error:
            # A crash of the fake fails the test that caused it, like a violation does.
            return self._violation(service, f"the fake itself failed: {error!r}", 500)

    def _serve(self, service, request, path):
        endpoint = service.route(request, path)
        if isinstance(endpoint, Answer):
            return endpoint
        refusal = service.authenticate(request)
        if refusal is not None:
            return refusal
        problems = []
        try:
            envelopes = service.parse(request, endpoint, problems)
        except _Refused as refused:
            problems, envelopes = [str(refused)], []
        with self._lock:
            self.calls += 1
            self.recipients_per_call.append(sum(len(envelope.recipients) for envelope in envelopes))
            self.violations += [f"{service.name}: {problem}" for problem in problems]
            failure = self._failures.pop(0) if self._failures else None
            rejected = self._rejected
        if failure is not None:
            return service.error(failure, f"HTTP {failure} injected by the fake (fail_next)")
        if problems:
            return service.error(400, "; ".join(problems))
        answer, deliveries, suppressed = service.accept(request, endpoint, envelopes, rejected)
        records = []
        if self.record == "full":
            records = [
                Delivery(service.name, recipient, *envelope.render(recipient), envelope.message_id)
                for recipient, envelope in deliveries
            ]
        with self._lock:
            self.received.update(recipient for recipient, _envelope in deliveries)
            self.suppressed.update(suppressed)
            self.deliveries += records
        return answer


class _Server(ThreadingHTTPServer):
    """Keeps its connections, so stop() can end idle keep-alive ones and join their threads."""

    daemon_threads = True

    def __init__(self, *args, **kwargs):
        self._connections = {}
        self._connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        thread = threading.Thread(
            target=self.process_request_thread, args=(request, client_address), daemon=True
        )
        with self._connections_lock:
            self._connections[request] = thread
        thread.start()

    def shutdown_request(self, request):
        with self._connections_lock:
            self._connections.pop(request, None)
        super().shutdown_request(request)

    def close_connections(self):
        with self._connections_lock:
            connections = list(self._connections.items())
        for connection, _thread in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)
        for _connection, thread in connections:
            thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    fake = None
    # Keep-alive, as the real services allow: a 100,000-recipient run reuses its connections.
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle keep-alive connection is let go
    # Headers and body in two small writes would wait on the client's delayed ACK: 40 ms a call.
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        answer = self.fake._respond(Request(self.command, parts.path, parts.query, headers, body))
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.type)
            self.send_header("Content-Length", str(len(answer.body)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


def use_fake_aws_credentials(monkeypatch):
    """boto3 (Amazon SES) finds the fake's credentials in the environment, and nothing of the machine's."""
    import os

    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET_ACCESS_KEY)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
