"""How long what we keep about subscribers is kept: `manage.py prune_subscribers` (daily, from cron).

* Follow requests: their confirmation links work for a week (tokens.CONFIRM_MAX_AGE); then they are
  deleted, confirmed or not. (Each notification run deletes them too.)
* Addresses that never confirmed (rows from before follow requests): deleted after the same week.
* Deliveries of stories and of notes, of live stories' key points and of their end digests: kept
  KEEP_DELIVERIES_DAYS. A delivery is what lets a later correction reach everyone who was sent the
  story, so a correction to a story sent longer ago than that is shown on its page but emailed only to
  followers of the story. (Key points and end digests are only sent within due.LOOKBACK_DAYS of when
  they were made, far inside that: pruning their log can send nothing twice, unless coverage is
  reopened and ended again more than KEEP_DELIVERIES_DAYS after its digest went.)
* Soft-bounce counts with no bounce for KEEP_SOFT_BOUNCES_DAYS: forgotten (a suppression stays until an
  editor lifts it).
"""

import datetime
from dataclasses import dataclass

from django.utils import timezone

from articles.following.tokens import CONFIRM_MAX_AGE
from articles.models import (
    CoverageDigestDelivery,
    Delivery,
    FollowRequest,
    KeyPointDelivery,
    NoteDelivery,
    Subscriber,
    Suppression,
)

KEEP_DELIVERIES_DAYS = 90
KEEP_SOFT_BOUNCES_DAYS = 30


@dataclass
class Pruned:
    requests: int
    unconfirmed: int
    deliveries: int
    note_deliveries: int
    soft_bounces: int
    key_point_deliveries: int = 0
    coverage_digest_deliveries: int = 0


def prune(now=None):
    now = now or timezone.now()
    confirm_window = now - datetime.timedelta(seconds=CONFIRM_MAX_AGE)
    kept_deliveries = now - datetime.timedelta(days=KEEP_DELIVERIES_DAYS)
    _, requests = FollowRequest.objects.filter(created_at__lt=confirm_window).delete()
    _, unconfirmed = Subscriber.objects.filter(
        confirmed_at__isnull=True, created_at__lt=confirm_window
    ).delete()
    # Nothing cascades from these: Django deletes them in one statement each, however many.
    deliveries, _ = Delivery.objects.filter(sent_at__lt=kept_deliveries).delete()
    note_deliveries, _ = NoteDelivery.objects.filter(sent_at__lt=kept_deliveries).delete()
    key_point_deliveries, _ = KeyPointDelivery.objects.filter(sent_at__lt=kept_deliveries).delete()
    coverage_digests, _ = CoverageDigestDelivery.objects.filter(sent_at__lt=kept_deliveries).delete()
    soft_bounces, _ = Suppression.objects.filter(
        suppressed_at__isnull=True, last_event_at__lt=now - datetime.timedelta(days=KEEP_SOFT_BOUNCES_DAYS)
    ).delete()
    return Pruned(
        requests=requests.get("articles.FollowRequest", 0),
        unconfirmed=unconfirmed.get("articles.Subscriber", 0),
        deliveries=deliveries,
        note_deliveries=note_deliveries,
        soft_bounces=soft_bounces,
        key_point_deliveries=key_point_deliveries,
        coverage_digest_deliveries=coverage_digests,
    )
