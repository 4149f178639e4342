"""Email services that send one email to many recipients in one call, each with their own links.

With SMTP, or a service whose API takes one message at a time (Postmark, Amazon SES and Resend need a
template stored at the service for per-recipient content), every recipient gets a message of its own.
Mailgun, SendGrid and Brevo take a batch: one body with merge fields, and each recipient's values.
Anymail never splits a batch, so the limit of each call is ours to keep.
"""

from dataclasses import dataclass

from django.conf import settings

from conclave.emailservice import SENDGRID_MERGE_FIELD_FORMAT


@dataclass(frozen=True)
class Batching:
    limit: int  # recipients per call
    field: str  # how the service writes a merge field, with {} for its name


BATCHING = {
    "mailgun": Batching(limit=1000, field="%recipient.{}%"),
    "sendgrid": Batching(limit=1000, field=SENDGRID_MERGE_FIELD_FORMAT),
    "brevo": Batching(limit=1000, field="{{{{ params.{} }}}}"),
}


def service_name():
    """'mailgun', 'postmark'…: the anymail service EMAIL_BACKEND names, or None (SMTP, console…)."""
    backend = settings.EMAIL_BACKEND
    if backend.startswith("anymail.backends."):
        return backend.split(".")[2]
    return None


def batching():
    """How the configured service batches, or None: one message per recipient."""
    return BATCHING.get(service_name())
