"""Changes to what an address follows: a follow request, its confirmation, leaving, forgetting; and what
we keep about an address, for its owner to download."""

import logging
from functools import partial

from django.db import transaction
from django.utils import timezone

from articles.following.addresses import address_hash
from articles.following.bounces import is_suppressed
from articles.following.emails import send_follow_mail
from articles.following.limits import address_within_limit
from articles.following.targets import Followable
from articles.following.tokens import new_request
from articles.links import absolute
from articles.models import (
    FOLLOW_KINDS,
    CoverageDigestDelivery,
    Follow,
    FollowRequest,
    KeyPointDelivery,
    NoteDelivery,
    Subscriber,
    Suppression,
)

logger = logging.getLogger(__name__)


def request_follow(target, email, frequency):
    """Record a request to follow `target` (a Tag, Author, Section or Article); return the work left for
    after the answer (the mail it may cause).

    The same work for every address, whatever it is (new, pending, subscribed, suppressed, over its
    limit): the address's rate-limit counter, one INSERT of the request, one SELECT of a subscriber and
    one of a suppression, so the answer takes no longer for one than for another. Even a request whose
    mail will not mention it (the address is subscribed, or over its limit) is recorded: it confirms
    nothing without its link, and goes with the others after a week. A suppressed address (it bounced
    or complained: articles/following/bounces.py) is sent nothing.
    """
    allowed = address_within_limit(email)
    _, token = new_request(target, email, frequency)
    subscriber = Subscriber.objects.filter(email=email, confirmed_at__isnull=False).first()
    suppressed = is_suppressed(email)
    if suppressed or not allowed:
        return partial(
            logger.info,
            "Follow %s: mail to %s held back (%s)",
            Followable(target).log_name,
            address_hash(email),
            "suppressed" if suppressed else "rate limit",
        )
    return partial(send_follow_mail, target, email, token, subscriber, frequency)


def forget(subscribers, suppressions=False):
    """Delete these subscribers with everything about them: follows and delivery history (cascaded),
    and the follow requests of their addresses, whose older links would otherwise subscribe them again.

    With `suppressions`, their addresses' Suppression rows go too: only when the owner asks us to
    delete everything. Otherwise they stay, so that an address that bounced or complained is not
    mailed again if someone follows something with it later.
    """
    with transaction.atomic():
        emails = subscribers.values("email")
        FollowRequest.objects.filter(email__in=emails).delete()
        if suppressions:
            Suppression.objects.filter(email__in=emails).delete()
        subscribers.delete()


def leave(subscriber):
    """The subscriber leaves: forgotten entirely."""
    forget(Subscriber.objects.filter(pk=subscriber.pk))
    logger.info("Subscriber %s left", address_hash(subscriber.email))


def erase(subscriber):
    """The owner of the address asked us to delete everything about it: the subscriber and all that
    hangs from it, its follow requests, and its suppression row."""
    forget(Subscriber.objects.filter(pk=subscriber.pk), suppressions=True)
    logger.info("Subscriber %s erased everything", address_hash(subscriber.email))


def confirm(follow_request, frequency):
    """Confirm one follow request: its address becomes (or stays) a subscriber following its target at
    `frequency`. Nothing else anyone asked for the address is taken with it, and the frequencies of
    its other follows stay as they are."""
    now = timezone.now()
    with transaction.atomic():
        claimed = FollowRequest.objects.filter(pk=follow_request.pk, confirmed_at__isnull=True).update(
            confirmed_at=now
        )
        if not claimed:  # confirmed meanwhile, by another click
            return
        subscriber, _ = Subscriber.objects.select_for_update().get_or_create(
            email=follow_request.email, defaults={"confirmed_at": now}
        )
        if not subscriber.is_confirmed:
            # A row from before follow requests: what it followed was never confirmed by anyone.
            subscriber.follows.all().delete()
            subscriber.confirmed_at = now
            subscriber.save(update_fields=["confirmed_at"])
        Follow.objects.update_or_create(
            subscriber=subscriber,
            **Follow.target_filter(follow_request.target),
            defaults={"frequency": frequency},
        )


def _when(value):
    return value.isoformat() if value else None


def _target(row):
    target = Followable(row.target)
    return {"kind": target.kind, "name": target.name, "url": absolute(target.url)}


def data_about(subscriber):
    """Everything we keep about a subscriber's address, for its owner (the settings page's download):
    the subscriber, its follows, the follow requests of the address (not their token digests), what we
    emailed, and any suppression. Its link key is left out: it is part of the links, not about anyone."""
    email = subscriber.email
    follows = subscriber.follows.select_related(*FOLLOW_KINDS).order_by("created_at", "pk")
    requests = FollowRequest.objects.filter(email=email).select_related(*FOLLOW_KINDS).order_by("created_at")
    deliveries = subscriber.deliveries.select_related("article").order_by("sent_at", "pk")
    notes = (
        NoteDelivery.objects.filter(subscriber=subscriber)
        .select_related("correction__article")
        .order_by("sent_at", "pk")
    )
    key_points = (
        KeyPointDelivery.objects.filter(subscriber=subscriber)
        .select_related("entry__article")
        .order_by("sent_at", "pk")
    )
    coverage_digests = (
        CoverageDigestDelivery.objects.filter(subscriber=subscriber)
        .select_related("article")
        .order_by("sent_at", "pk")
    )
    suppression = Suppression.objects.filter(email=email).first()
    return {
        "subscriber": {
            "email": email,
            "created_at": _when(subscriber.created_at),
            "confirmed_at": _when(subscriber.confirmed_at),
            "last_daily_digest_at": _when(subscriber.last_daily_at),
            "last_weekly_digest_at": _when(subscriber.last_weekly_at),
        },
        "follows": [
            {**_target(follow), "frequency": follow.frequency, "since": _when(follow.created_at)}
            for follow in follows
        ],
        "follow_requests": [
            {
                **_target(request),
                "frequency": request.frequency,
                "requested_at": _when(request.created_at),
                "confirmed_at": _when(request.confirmed_at),
            }
            for request in requests
        ],
        "deliveries": [
            {
                "story": delivery.article.title,
                "url": absolute(delivery.article.get_absolute_url()),
                "sent_at": _when(delivery.sent_at),
            }
            for delivery in deliveries
        ],
        "note_deliveries": [
            {
                "story": note.correction.article.title,
                "url": absolute(note.correction.article.get_absolute_url()),
                "note": note.correction.note,
                "kind": note.correction.kind,
                "sent_at": _when(note.sent_at),
            }
            for note in notes
        ],
        "key_point_deliveries": [
            {
                "story": delivery.entry.article.title,
                "key_point": delivery.entry.headline,
                "url": absolute(delivery.entry.get_absolute_url()),
                "sent_at": _when(delivery.sent_at),
            }
            for delivery in key_points
        ],
        "live_coverage_digest_deliveries": [
            {
                "story": delivery.article.title,
                "url": absolute(delivery.article.get_absolute_url()),
                "sent_at": _when(delivery.sent_at),
            }
            for delivery in coverage_digests
        ],
        "suppression": suppression
        and {
            "email": suppression.email,
            "reason": suppression.reason,
            "detail": suppression.detail,
            "soft_bounces": suppression.soft_bounces,
            "suppressed_at": _when(suppression.suppressed_at),
            "last_event_at": _when(suppression.last_event_at),
        },
    }
