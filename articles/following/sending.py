"""The notification run: `manage.py send_notifications` (run from cron, e.g. every 5 minutes) calls
`send_due_notifications()`, which sends every alert and digest that is due (articles.following.due).

Delivery guarantees
    A Delivery row per (subscriber, article), under a unique constraint, is the record of what was
    sent. For each subscriber, in one database transaction: lock the subscriber row, insert its
    Delivery rows (and move last_digest_at), hand the one email to the mail server, commit. If the
    server refuses the message or the connection fails, the transaction rolls back: nothing is
    recorded for that subscriber and the next run tries again (at-least-once). A second run at the
    same time skips a subscriber whose row is locked (PostgreSQL), and the unique constraint refuses
    rows already written, so two runs never send the same story to the same reader.

    The one remaining gap is deliberate: if the process dies (or the database commit fails, or the
    server's "250 OK" is lost to a timeout) after the mail server took a message but before the
    commit, that one message is sent again by the next run. The alternative, committing the rows
    before sending, would instead lose that message silently. A rare duplicate is the better failure
    for a news alert, and it is bounded: only one message is ever in flight, so one crash can repeat
    at most one email.

    A message the server refuses (a bad mailbox, a 5xx on DATA) does not stop the run: the others are
    still sent and recorded, failures are listed, and the command exits non-zero. An address no message
    can be addressed to (control or format characters, a domain IDNA cannot encode: stored before the
    follow form refused them) is skipped and logged, by subscriber id, at every run; it is not a
    failure, as no later run can do better: an editor deletes it. When no connection
    can be opened at all, or after MAX_CONSECUTIVE_FAILURES failures in a row, the mail server is
    taken to be down and the run stops early; the next run carries on from what is recorded.

Housekeeping
    Each run deletes follow requests older than their confirmation links (a week): confirmed or not,
    nothing can use them any more.

Cost
    Candidate articles and their tags are read once per run (two queries), then subscribers in keyset
    batches of BATCH_SIZE with their follows and recent deliveries (three queries a batch), then a
    constant handful of statements per email sent (lock, insert, digest update). One mail connection
    is reused for MESSAGES_PER_CONNECTION messages, then reopened. Apart from the candidate stories,
    nothing is held beyond one batch.
"""

import contextlib
import datetime
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import get_connection
from django.db import IntegrityError, transaction
from django.utils import timezone

from articles.following import due
from articles.following.addresses import address_hash, is_mailable
from articles.following.due import candidate_stories, due_subscribers, matching_stories
from articles.following.emails import build_message, subject_for
from articles.following.tokens import CONFIRM_MAX_AGE
from articles.models import Delivery, Follow, FollowRequest, Subscriber

logger = logging.getLogger(__name__)

BATCH_SIZE = 500  # subscribers read per query
MESSAGES_PER_CONNECTION = 100  # many mail servers cap the messages of one SMTP session
MAX_CONSECUTIVE_FAILURES = 10
EMAIL_TIMEOUT = 30  # seconds, when settings.EMAIL_TIMEOUT is not set: a hung server must not hang the run
PROGRESS_EVERY = 100

Frequency = Follow.Frequency


class MailServerUnavailable(Exception):
    """Opening a connection failed: no message can go, so the run stops (the next one resumes)."""


class _Mailer:
    """One mail connection, opened on first use and renewed every MESSAGES_PER_CONNECTION messages."""

    def __init__(self):
        self.connection = None
        self.sent_on_connection = 0

    def open(self):
        if self.connection is None:
            timeout = getattr(settings, "EMAIL_TIMEOUT", None) or EMAIL_TIMEOUT
            connection = get_connection(fail_silently=False, timeout=timeout)
            try:
                connection.open()
            except Exception as exc:
                raise MailServerUnavailable(
                    f"cannot connect to the mail server: {type(exc).__name__}: {exc}"
                ) from exc
            self.connection, self.sent_on_connection = connection, 0
        return self.connection

    def send(self, message):
        connection = message.connection = self.open()
        try:
            if connection.send_messages([message]) != 1:
                raise RuntimeError("the mail backend accepted no message")
        except BaseException:
            self.close()  # a failed exchange can leave the session unusable: start the next one afresh
            raise
        self.sent_on_connection += 1
        if self.sent_on_connection >= MESSAGES_PER_CONNECTION:
            self.close()

    def close(self):
        connection, self.connection = self.connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail too
                connection.close()


@dataclass
class Summary:
    subscribers: int = 0  # subscribers whose turn it was, looked at
    emails: int = 0  # emails sent (or, in a dry run, that would be sent)
    stories: int = 0  # Delivery rows written
    failed: int = 0
    skipped: int = 0  # held by a concurrent run, unsubscribed or changed meanwhile
    unmailable: int = 0  # addresses no message can be addressed to (skipped, logged)
    expired_requests: int = 0  # follow requests deleted, their links expired
    empty_digests: int = 0  # due digests with nothing new (closed, nothing sent)
    stopped_early: bool = False
    failures: list = field(default_factory=list)  # (email, error), the first few

    @property
    def ok(self):
        return not self.failed and not self.stopped_early


class _Skip(Exception):
    pass


def _deliver(subscriber, matches, message, mailer, now):
    """Record and send in one transaction: the rows commit only if the mail server took the message."""
    with transaction.atomic():
        current = (
            Subscriber.objects.select_for_update(skip_locked=True)
            .filter(pk=subscriber.pk, confirmed_at__isnull=False)
            .values_list("email", "frequency")
            .first()
        )
        if current != (subscriber.email, subscriber.frequency):
            raise _Skip  # held by another run (PostgreSQL), or unsubscribed or changed since read
        Delivery.objects.bulk_create(
            Delivery(subscriber_id=subscriber.pk, article_id=story.id) for story, _ in matches
        )
        if subscriber.frequency != Frequency.IMMEDIATE:
            Subscriber.objects.filter(pk=subscriber.pk).update(last_digest_at=now)
        mailer.send(message)


def _batch_lookups(subscriber_ids, since):
    """The follows {subscriber id: [(tag id, followed at)]} and recent deliveries {subscriber id: {article
    ids}} of a batch of subscribers: two queries, plain tuples (no model instances to hold on to)."""
    follows, delivered = {}, {}
    rows = Follow.objects.filter(subscriber_id__in=subscriber_ids).values_list(
        "subscriber_id", "tag_id", "created_at"
    )
    for subscriber_id, tag_id, created_at in rows:
        follows.setdefault(subscriber_id, []).append((tag_id, created_at))
    rows = Delivery.objects.filter(subscriber_id__in=subscriber_ids, article__published_at__gte=since)
    for subscriber_id, article_id in rows.values_list("subscriber_id", "article_id"):
        delivered.setdefault(subscriber_id, set()).add(article_id)
    return follows, delivered


def _batches(queryset):
    """Keyset pagination by primary key: each batch is one fresh query, nothing older is kept."""
    last_pk = 0
    while True:
        batch = list(queryset.filter(pk__gt=last_pk).order_by("pk")[:BATCH_SIZE])
        if not batch:
            return
        yield batch
        if len(batch) < BATCH_SIZE:
            return
        last_pk = batch[-1].pk


def send_due_notifications(stdout=None, dry_run=False, now=None):
    """Send every alert and digest that is due; return a Summary. See the module docstring."""
    now = now or timezone.now()
    run = _Run(stdout, dry_run, now)
    try:
        run.send_all()
    except _Stop:
        pass
    finally:
        run.mailer.close()
    return run.summary


class _Stop(Exception):
    pass


class _Run:
    def __init__(self, stdout, dry_run, now):
        self.stdout, self.dry_run, self.now = stdout, dry_run, now
        self.summary = Summary()
        self.mailer = _Mailer()
        self.consecutive_failures = 0

    def say(self, line):
        if self.stdout is not None:
            self.stdout.write(line + "\n")

    def send_all(self):
        if not self.dry_run:
            expired = FollowRequest.objects.filter(
                created_at__lt=self.now - datetime.timedelta(seconds=CONFIRM_MAX_AGE)
            )
            self.summary.expired_requests, _ = expired.delete()
        by_tag = candidate_stories(self.now)
        subscribers = due_subscribers(self.now).only(
            "id", "email", "frequency", "confirmed_at", "last_digest_at", "link_key"
        )
        if not by_tag:
            # Nothing new anywhere: no alerts, and every due digest is empty. One query closes them all.
            digests = subscribers.exclude(frequency=Frequency.IMMEDIATE)
            if not self.dry_run:
                self.summary.empty_digests = digests.update(last_digest_at=self.now)
            self.say("No new stories on followed tags.")
            return
        total = subscribers.count()
        self.say(f"{total} subscriber(s) to check.")
        since = self.now - datetime.timedelta(days=due.LOOKBACK_DAYS)
        for batch in _batches(subscribers):
            follows, delivered = _batch_lookups([subscriber.pk for subscriber in batch], since)
            empty_digests = []
            for subscriber in batch:
                self.summary.subscribers += 1
                matches = matching_stories(
                    subscriber, follows.get(subscriber.pk, ()), by_tag, delivered.get(subscriber.pk, ())
                )
                if matches:
                    self.send_one(subscriber, matches)
                elif subscriber.frequency != Frequency.IMMEDIATE:
                    empty_digests.append(subscriber.pk)
                if self.summary.subscribers % PROGRESS_EVERY == 0:
                    self.say(f"  {self.summary.subscribers}/{total} checked, {self.summary.emails} sent")
            if empty_digests and not self.dry_run:
                # Due, nothing new: the period is done; a story published later waits for the next one.
                Subscriber.objects.filter(pk__in=empty_digests).update(last_digest_at=self.now)
            self.summary.empty_digests += len(empty_digests)

    def send_one(self, subscriber, matches):
        summary = self.summary
        if not is_mailable(subscriber.email):
            # Never the address itself, in the output or the log: it may hold line breaks.
            summary.unmailable += 1
            self.say(f"  SKIPPED subscriber {subscriber.pk}: no mail can be addressed to it as written")
            logger.warning(
                "Subscriber %s (%s): the address cannot be mailed as written; skipped",
                subscriber.pk,
                address_hash(subscriber.email),
            )
            return
        if self.dry_run:
            slugs = ", ".join(story.slug for story, _ in matches)
            self.say(f"  would send to {subscriber.email}: {subject_for(subscriber, matches)} [{slugs}]")
        else:
            try:
                message = build_message(subscriber, matches)
                _deliver(subscriber, matches, message, self.mailer, self.now)
            except (_Skip, IntegrityError):
                summary.skipped += 1
                return
            except Exception as exc:
                self.failed(subscriber, exc)
                return
        self.consecutive_failures = 0
        summary.emails += 1
        summary.stories += len(matches)

    def failed(self, subscriber, exc):
        summary = self.summary
        summary.failed += 1
        self.consecutive_failures += 1
        error = f"{type(exc).__name__}: {exc}"
        if len(summary.failures) < 20:
            summary.failures.append((subscriber.email, error))
        self.say(f"  FAILED {subscriber.email}: {error}")
        if isinstance(exc, MailServerUnavailable):
            summary.stopped_early = True
            self.say("  The mail server is unreachable: stopping; the next run resumes.")
            raise _Stop
        if self.consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
            summary.stopped_early = True
            self.say(f"  {self.consecutive_failures} failures in a row: stopping; the next run resumes.")
            raise _Stop
