"""Bounces and complaints: the email service's tracking webhook suppresses addresses we must stop mailing.

The webhook (views.tracking_webhook) is anymail's view for the service EMAIL_SERVICE names, at
/anymail/<service>/tracking/, served only when EMAIL_WEBHOOK_SECRET is set: anymail checks that HTTP
basic auth, and the service's own signature where it signs (Mailgun, SendGrid, Resend), and answers a
forged call with an error before any of this runs. What its events mean here:

* a hard bounce, a complaint, or the service refusing an address: suppressed at once, with the
  service's words and the time;
* a soft bounce (a full mailbox, a server down): counted, at most once a day; after SOFT_BOUNCE_DAYS
  such days the address is suppressed ("repeated soft bounces"); a delivery clears the count;
* anything else (opens, clicks, deliveries otherwise): nothing is stored.

A suppressed address is sent nothing, neither alerts nor follow confirmations, until an editor lifts
the suppression in the admin (articles/admin/subscribers.py).
"""

import datetime
import logging

from anymail.signals import EventType, tracking
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from articles.following.addresses import address_hash, normalise_email
from articles.models import Suppression

logger = logging.getLogger(__name__)

SOFT_BOUNCE_DAYS = 3
Reason = Suppression.Reason


def is_suppressed(email):
    return Suppression.objects.filter(email=normalise_email(email), suppressed_at__isnull=False).exists()


def suppress(email, reason, detail="", when=None):
    """No more email to this address, for `reason`, until an editor lifts it."""
    when = when or timezone.now()
    Suppression.objects.update_or_create(
        email=normalise_email(email),
        defaults={"reason": reason, "detail": detail[:500], "suppressed_at": when, "last_event_at": when},
    )
    logger.warning("Address %s suppressed: %s", address_hash(email), reason)


def count_soft_bounce(email, detail="", when=None):
    """One more day with a soft bounce; suppressed at SOFT_BOUNCE_DAYS."""
    when = when or timezone.now()
    with transaction.atomic():
        row, created = Suppression.objects.select_for_update().get_or_create(
            email=normalise_email(email),
            defaults={"soft_bounces": 1, "detail": detail[:500], "last_event_at": when},
        )
        # Days in the site's time zone, for both times: the stored one comes back in UTC, while a service
        # may write its own offset (Postmark: US Eastern), which .date() alone would compare as it stands.
        same_day = timezone.localdate(row.last_event_at) == timezone.localdate(when)
        if created or row.suppressed_at or (row.soft_bounces and same_day):
            return
        row.soft_bounces += 1
        row.detail, row.last_event_at = detail[:500], when
        if row.soft_bounces >= SOFT_BOUNCE_DAYS:
            row.reason, row.suppressed_at = Reason.SOFT_BOUNCES, when
            logger.warning("Address %s suppressed: %s", address_hash(email), row.reason)
        row.save()


def _is_soft(event, service):
    """Whether a bounce is temporary. Anymail calls some soft bounces "bounced": the service's own
    event says which."""
    if event.event_type == EventType.DEFERRED:
        return True
    raw = event.esp_event if isinstance(event.esp_event, dict) else {}
    if service == "postmark":
        return raw.get("Type") == "SoftBounce"
    if service == "brevo":
        return raw.get("event") == "soft_bounce"
    if service == "amazon_ses":
        return not (event.description or "").startswith("Permanent")
    if service == "sendgrid":
        return raw.get("type") == "blocked"
    return False


@receiver(tracking, dispatch_uid="articles.following.bounces")
def record_tracking_event(sender, event, esp_name, **kwargs):
    if not event.recipient:
        return
    email = normalise_email(event.recipient)
    when = event.timestamp or timezone.now()
    if timezone.is_naive(when):  # no service documents one; read as UTC rather than fail the call
        when = timezone.make_aware(when, datetime.UTC)
    detail = " ".join(filter(None, [event.description, event.mta_response]))
    service = esp_name.lower().replace(" ", "_")
    if event.event_type == EventType.COMPLAINED:
        suppress(email, Reason.COMPLAINT, detail, when)
    elif event.event_type == EventType.REJECTED:
        suppress(email, Reason.REJECTED, detail, when)
    elif event.event_type in (EventType.BOUNCED, EventType.DEFERRED):
        if _is_soft(event, service):
            count_soft_bounce(email, detail, when)
        else:
            suppress(email, Reason.HARD_BOUNCE, detail, when)
    elif event.event_type == EventType.DELIVERED:
        Suppression.objects.filter(email=email, suppressed_at__isnull=True).delete()
