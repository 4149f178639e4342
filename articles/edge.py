"""Purges at the edge cache (Varnish, Fastly, Cloudflare: conclave/edgepurge.py), kept until they land.

After a commit, a change's keys are purged in our page cache, then at the edge. An edge purge that
fails (a network blip, the API down, a timeout) is kept as an ``EdgePurge`` row and tried again: with
the next purge that succeeds, and by ``manage.py purge_edge`` (cron, every minute), each time waiting
longer, so that a correction never stays stale at the edge for want of a second try. Editors see the
kept ones in the admin ("Edge purges"), with the reason of the last failure.
"""

import datetime
import logging

from django.conf import settings
from django.db import models
from django.utils import timezone

from conclave import edgepurge

logger = logging.getLogger(__name__)

# Waits between tries of a kept purge: a minute, then doubling, at most an hour.
FIRST_RETRY_SECONDS = 60
LONGEST_RETRY_SECONDS = 3600
# Kept purges sent together in one try: their keys merged (the clients batch them as each API allows).
RETRY_BATCH = 50


class EdgePurge(models.Model):
    """Keys the edge has not confirmed purging yet."""

    keys = models.TextField(help_text="Surrogate keys, separated by spaces.")
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=1)
    next_attempt_at = models.DateTimeField(db_index=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = "edge purge"

    def __str__(self):
        return self.keys[:80]

    def key_list(self):
        return self.keys.split()


def edge_configured():
    return bool(settings.EDGE_PURGE_URL.strip())


def purge_at_edge(keys):
    """Purge ``keys`` at the edge now; keep them to try again if the edge does not confirm."""
    if not edge_configured():
        return
    keys = sorted(set(keys))
    try:
        edgepurge.purge(keys=keys)
    except edgepurge.PurgeFailed as exc:
        if not exc.retryable:  # keys no edge can take: trying them again would fail the same way
            logger.error("Edge purge refused for good, not kept: %s", exc.reason)
            return
        logger.warning("Edge purge failed, kept to try again: %s", exc.reason)
        now = timezone.now()
        EdgePurge.objects.create(
            keys=" ".join(keys),
            last_error=exc.reason,
            next_attempt_at=now + datetime.timedelta(seconds=FIRST_RETRY_SECONDS),
        )
        return
    # The edge answers again: what was kept for it goes now rather than at the next cron run.
    retry_kept(due_only=True)


def retry_kept(due_only=True):
    """Try the kept purges again (those due, or all): (how many landed, how many are still kept)."""
    now = timezone.now()
    kept = EdgePurge.objects.all()
    if due_only:
        kept = kept.filter(next_attempt_at__lte=now)
    batch = list(kept[:RETRY_BATCH])
    if not batch:
        return 0, EdgePurge.objects.count()
    keys = sorted({key for purge in batch for key in purge.key_list()})
    try:
        edgepurge.purge(keys=keys)
    except edgepurge.PurgeFailed as exc:
        for purge in batch:
            wait = min(LONGEST_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2**purge.attempts)
            purge.attempts += 1
            purge.last_error = exc.reason
            purge.next_attempt_at = now + datetime.timedelta(seconds=wait)
        EdgePurge.objects.bulk_update(batch, ["attempts", "last_error", "next_attempt_at"])
        logger.warning("Edge purge retry failed (%d kept): %s", len(batch), exc.reason)
        return 0, EdgePurge.objects.count()
    EdgePurge.objects.filter(pk__in=[purge.pk for purge in batch]).delete()
    return len(batch), EdgePurge.objects.count()
