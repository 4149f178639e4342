"""The notification run: `manage.py send_notifications` (run from cron, e.g. every 5 minutes) calls
`send_due_notifications()`, which sends every alert and digest that is due (articles.following.due).

Delivery guarantees
    A Delivery row per (subscriber, article), a NoteDelivery row per (subscriber, note), a
    KeyPointDelivery row per (subscriber, key point of a live story) and a CoverageDigestDelivery row
    per (subscriber, story whose live coverage ended), under unique constraints, are the record of what
    was sent. For each email, in one database transaction:
    lock the subscriber row, insert its rows (and close the digest periods it ends), hand the email to
    the mail server, commit. If the server refuses the message or the connection fails, the
    transaction rolls back: nothing is recorded for that subscriber and the next run tries again
    (at-least-once). A second run at the same time skips a subscriber whose row is locked
    (PostgreSQL), and the unique constraints refuse rows already written, so two runs never send the
    same story, note, key point or end digest to the same reader.

    Through a service that takes batches (services.py), one call carries up to its limit of recipients
    of the same email, and one transaction holds the whole call: every recipient's rows commit if the
    service took the call, none if it did not; recipients it refused one by one are taken out again
    and suppressed.

    The one remaining gap is deliberate: if the process dies (or the database commit fails, or the
    server's "250 OK" is lost to a timeout) after the mail server took a message but before the
    commit, that message is sent again by the next run. The alternative, committing the rows before
    sending, would instead lose it silently. A rare duplicate is the better failure for a news alert,
    and it is bounded: one message (one batch call, through a service) is in flight at a time, so one
    crash can repeat at most that.

    A message the server refuses (a bad mailbox, a 5xx on DATA) does not stop the run: the others are
    still sent and recorded, failures are listed, and the command exits non-zero. An address no message
    can be addressed to (control or format characters, a domain IDNA cannot encode: stored before the
    follow form refused them) is skipped and logged, by subscriber id, at every run; it is not a
    failure, as no later run can do better: an editor deletes it. When no connection can be opened at
    all, or after MAX_CONSECUTIVE_FAILURES failures in a row, the mail server is taken to be down and
    the run stops early; the next run carries on from what is recorded.

Housekeeping
    Each run deletes follow requests older than their confirmation links (a week): confirmed or not,
    nothing can use them any more. `prune_subscribers` deletes the rest in its time (retention.py).

Cost
    Candidate stories, notes, key points, ended coverage and the names of what they are about are read
    once per run (due.py), then subscribers in keyset batches of BATCH_SIZE with their follows and
    their deliveries of the candidates (stories, notes, key points, end digests: two to five queries a
    batch), then a constant handful of statements per email or batch call sent (lock, inserts, digest
    update). Each distinct email is
    rendered once (CONTENT_CACHE), with marks where each recipient's address and links go. One mail
    connection is reused for MESSAGES_PER_CONNECTION messages, then reopened. Apart from the
    candidates, nothing is held beyond one batch.
"""

import contextlib
import datetime
import logging
from dataclasses import dataclass, field

from anymail.exceptions import AnymailRecipientsRefused
from anymail.message import AnymailMessage
from django.conf import settings
from django.core.mail import get_connection
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.html import escape

from articles.following.addresses import address_hash, is_mailable
from articles.following.bounces import suppress
from articles.following.due import (
    DIGESTS,
    Candidates,
    FollowRow,
    digest_cutoffs,
    due_frequencies,
    due_subscribers,
    owed_to,
)
from articles.following.emails import (
    COMMON_HEADERS,
    MARKS,
    build_message,
    content_key,
    recipient_fields,
    render_content,
    unsubscribe_headers,
)
from articles.following.services import batching
from articles.following.tokens import CONFIRM_MAX_AGE
from articles.models import (
    FOLLOW_KINDS,
    CoverageDigestDelivery,
    Delivery,
    Follow,
    FollowRequest,
    KeyPointDelivery,
    NoteDelivery,
    Subscriber,
    Suppression,
)

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000  # subscribers read per query: a whole batch call of the services that take one
MESSAGES_PER_CONNECTION = 100  # many mail servers cap the messages of one SMTP session
MAX_CONSECUTIVE_FAILURES = 10
EMAIL_TIMEOUT = 30  # seconds, when settings.EMAIL_TIMEOUT is not set: a hung server must not hang the run
PROGRESS_EVERY = 1000
CONTENT_CACHE = 1000  # rendered emails kept in a run, for subscribers owed the same


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
    calls: int = 0  # calls to the mail server or service that sent them
    stories: int = 0  # Delivery rows written
    notes: int = 0  # NoteDelivery rows written
    key_points: int = 0  # KeyPointDelivery rows written
    coverage_digests: int = 0  # CoverageDigestDelivery rows written
    failed: int = 0
    skipped: int = 0  # held by a concurrent run, unsubscribed or changed meanwhile
    unmailable: int = 0  # addresses no message can be addressed to (skipped, logged)
    refused: int = 0  # addresses the email service refused: suppressed
    expired_requests: int = 0  # follow requests deleted, their links expired
    empty_digests: int = 0  # due digests with nothing new (closed, nothing sent)
    stopped_early: bool = False
    failures: list = field(default_factory=list)  # (email, error), the first few

    @property
    def ok(self):
        return not self.failed and not self.stopped_early


class _Skip(Exception):
    pass


def _record(outgoing, now):
    """The delivery rows of these (subscriber, owed), and the digest periods they close. The unique
    constraints refuse a row another run wrote first (IntegrityError). Each bulk_create of nothing is
    no query."""
    Delivery.objects.bulk_create(
        Delivery(subscriber_id=subscriber.pk, article_id=story.id)
        for subscriber, owed in outgoing
        for story in owed.stories
    )
    NoteDelivery.objects.bulk_create(
        NoteDelivery(subscriber_id=subscriber.pk, correction_id=note_id)
        for subscriber, owed in outgoing
        for note_id in owed.note_ids
    )
    KeyPointDelivery.objects.bulk_create(
        KeyPointDelivery(subscriber_id=subscriber.pk, entry_id=entry_id)
        for subscriber, owed in outgoing
        for entry_id in owed.key_point_ids
    )
    CoverageDigestDelivery.objects.bulk_create(
        CoverageDigestDelivery(subscriber_id=subscriber.pk, article_id=ending.id)
        for subscriber, owed in outgoing
        for ending in owed.endings
    )
    for frequency in DIGESTS:
        closing = [subscriber.pk for subscriber, owed in outgoing if frequency in owed.closes]
        if closing:
            Subscriber.objects.filter(pk__in=closing).update(**{f"last_{frequency}_at": now})


def _claim(outgoing):
    """Lock these subscribers' rows for this transaction; return those still there, unchanged and not
    held by another run (PostgreSQL's SKIP LOCKED; elsewhere the unique constraints decide)."""
    current = dict(
        Subscriber.objects.select_for_update(skip_locked=True)
        .filter(pk__in=[subscriber.pk for subscriber, _ in outgoing], confirmed_at__isnull=False)
        .values_list("pk", "email")
    )
    return [
        (subscriber, owed) for subscriber, owed in outgoing if current.get(subscriber.pk) == subscriber.email
    ]


@dataclass
class _Sent:
    """What a batch of subscribers were sent before, of this run's candidates."""

    delivered: dict = field(default_factory=dict)  # {id: {article id: sent_at}}
    notes: dict = field(default_factory=dict)  # {id: {note id}}
    key_points: dict = field(default_factory=dict)  # {id: {entry id}}
    coverage_digests: dict = field(default_factory=dict)  # {id: {article id}}


def _batch_lookups(subscriber_ids, candidates):
    """For a batch of subscribers, two to five queries of plain tuples: their follows {id: [FollowRow]},
    and what of the candidates they were sent (_Sent): stories (candidate and noted), notes, key points
    and end digests (the last three only when the run has some)."""
    follows, sent = {}, _Sent()
    rows = Follow.objects.filter(subscriber_id__in=subscriber_ids).values_list(
        "subscriber_id", *(f"{kind}_id" for kind in FOLLOW_KINDS), "frequency", "created_at"
    )
    for subscriber_id, *targets, frequency, created_at in rows:
        kind, target_id = next((kind, id) for kind, id in zip(FOLLOW_KINDS, targets, strict=True) if id)
        follows.setdefault(subscriber_id, []).append(FollowRow(kind, target_id, frequency, created_at))
    rows = Delivery.objects.filter(subscriber_id__in=subscriber_ids, article_id__in=candidates.article_ids)
    for subscriber_id, article_id, sent_at in rows.values_list("subscriber_id", "article_id", "sent_at"):
        sent.delivered.setdefault(subscriber_id, {})[article_id] = sent_at
    note_ids = [note.id for notes in candidates.notes_by_article.values() for note in notes]
    if note_ids:
        rows = NoteDelivery.objects.filter(subscriber_id__in=subscriber_ids, correction_id__in=note_ids)
        for subscriber_id, note_id in rows.values_list("subscriber_id", "correction_id"):
            sent.notes.setdefault(subscriber_id, set()).add(note_id)
    key_point_ids = candidates.key_point_ids
    if key_point_ids:
        rows = KeyPointDelivery.objects.filter(subscriber_id__in=subscriber_ids, entry_id__in=key_point_ids)
        for subscriber_id, entry_id in rows.values_list("subscriber_id", "entry_id"):
            sent.key_points.setdefault(subscriber_id, set()).add(entry_id)
    if candidates.endings:
        rows = CoverageDigestDelivery.objects.filter(
            subscriber_id__in=subscriber_ids, article_id__in=list(candidates.endings)
        )
        for subscriber_id, article_id in rows.values_list("subscriber_id", "article_id"):
            sent.coverage_digests.setdefault(subscriber_id, set()).add(article_id)
    return follows, sent


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


def suppress_refused(emails, detail):
    """Addresses the email service refused to send to: no more email until an editor lifts it."""
    for email in emails:
        suppress(email, Suppression.Reason.REJECTED, detail)


def send_due_notifications(stdout=None, dry_run=False, now=None, part=(1, 1)):
    """Send every alert and digest that is due; return a Summary. See the module docstring.

    part=(k, n): only the k-th of n parts of the subscribers (by id), so that n runs side by side share
    the work instead of meeting on each row. Runs that overlap anyway still send nothing twice.
    """
    now = now or timezone.now()
    run = _Run(stdout, dry_run, now, part)
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
    def __init__(self, stdout, dry_run, now, part):
        self.stdout, self.dry_run, self.now, self.part = stdout, dry_run, now, part
        self.summary = Summary()
        self.mailer = _Mailer()
        self.batching = batching()
        self.consecutive_failures = 0
        self.contents = {}

    def say(self, line):
        if self.stdout is not None:
            self.stdout.write(line + "\n")

    def send_all(self):
        if not self.dry_run:
            expired = FollowRequest.objects.filter(
                created_at__lt=self.now - datetime.timedelta(seconds=CONFIRM_MAX_AGE)
            )
            self.summary.expired_requests, _ = expired.delete()
        candidates = Candidates(self.now)
        number, parts = self.part
        subscribers = due_subscribers(self.now)
        if parts > 1:
            subscribers = subscribers.alias(part=F("pk") % parts).filter(part=number - 1)
        subscribers = subscribers.only(
            "id", "email", "confirmed_at", "last_daily_at", "last_weekly_at", "link_key"
        )
        if not candidates:
            self.close_empty_digests(subscribers)
            self.say("No new stories, notes, key points or ended coverage for anyone who follows them.")
            return
        cutoffs = digest_cutoffs(self.now)
        total = subscribers.count()
        self.say(f"{total} subscriber(s) to check.")
        for batch in _batches(subscribers):
            follows, sent = _batch_lookups([subscriber.pk for subscriber in batch], candidates)
            outgoing, closing = [], {frequency: [] for frequency in DIGESTS}
            for subscriber in batch:
                owed = owed_to(
                    subscriber,
                    follows.get(subscriber.pk, ()),
                    candidates,
                    sent.delivered.get(subscriber.pk, {}),
                    sent.notes.get(subscriber.pk, ()),
                    due_frequencies(subscriber, cutoffs),
                    key_points_sent=sent.key_points.get(subscriber.pk, ()),
                    digests_sent=sent.coverage_digests.get(subscriber.pk, ()),
                )
                if owed.has_content:
                    outgoing.append((subscriber, owed))
                elif owed.closes:
                    # Due, nothing new: the period is done; a story published later waits for the next.
                    self.summary.empty_digests += 1
                    for frequency in owed.closes:
                        closing[frequency].append(subscriber.pk)
            self.summary.subscribers += len(batch)
            if not self.dry_run:
                for frequency, pks in closing.items():
                    Subscriber.objects.filter(pk__in=pks).update(**{f"last_{frequency}_at": self.now})
            self.send(outgoing)
            self.say(f"  {self.summary.subscribers}/{total} checked, {self.summary.emails} sent")

    def close_empty_digests(self, subscribers):
        """Nothing new anywhere: no alerts, and every due digest is empty. A query per digest closes them."""
        cutoffs = digest_cutoffs(self.now)
        for frequency in DIGESTS:
            due = subscribers.filter(follows__frequency=frequency).filter(
                Q(**{f"last_{frequency}_at__lt": cutoffs[frequency]})
                | Q(**{f"last_{frequency}_at__isnull": True, "confirmed_at__lt": cutoffs[frequency]})
            )
            if self.dry_run:
                self.summary.empty_digests += due.distinct().count()
            else:
                self.summary.empty_digests += Subscriber.objects.filter(pk__in=due.values("pk")).update(
                    **{f"last_{frequency}_at": self.now}
                )

    def content(self, owed):
        key = content_key(owed)
        content = self.contents.get(key)
        if content is None:
            if len(self.contents) >= CONTENT_CACHE:
                self.contents.clear()  # a run's memory stays flat, however varied its emails
            content = self.contents[key] = render_content(owed)
        return content

    def send(self, outgoing):
        mailable = []
        for subscriber, owed in outgoing:
            if is_mailable(subscriber.email):
                mailable.append((subscriber, owed))
                continue
            # Never the address itself, in the output or the log: it may hold line breaks.
            self.summary.unmailable += 1
            self.say(f"  SKIPPED subscriber {subscriber.pk}: no mail can be addressed to it as written")
            logger.warning(
                "Subscriber %s (%s): the address cannot be mailed as written; skipped",
                subscriber.pk,
                address_hash(subscriber.email),
            )
        if self.dry_run:
            for subscriber, owed in mailable:
                slugs = ", ".join(
                    [f"key point {id}" for id in owed.key_point_ids]
                    + [f"coverage ended {ending.id}" for ending in owed.endings]
                    + [story.slug for story in owed.stories]
                    + [f"note {id}" for id in owed.note_ids]
                )
                self.say(f"  would send to {subscriber.email}: {self.content(owed).subject} [{slugs}]")
                self.counted([(subscriber, owed)])
        elif self.batching is None:
            for subscriber, owed in mailable:
                self.send_one(subscriber, owed)
        else:
            groups = {}
            for subscriber, owed in mailable:
                groups.setdefault(content_key(owed), []).append((subscriber, owed))
            for group in groups.values():
                for start in range(0, len(group), self.batching.limit):
                    self.send_batch(group[start : start + self.batching.limit])

    def counted(self, sent):
        self.consecutive_failures = 0
        self.summary.emails += len(sent)
        self.summary.stories += sum(len(owed.stories) for _, owed in sent)
        self.summary.notes += sum(len(owed.note_ids) for _, owed in sent)
        self.summary.key_points += sum(len(owed.key_point_ids) for _, owed in sent)
        self.summary.coverage_digests += sum(len(owed.endings) for _, owed in sent)

    def send_one(self, subscriber, owed):
        """Record and send in one transaction: the rows commit only if the mail server took the message."""
        try:
            message = build_message(subscriber, self.content(owed))
            with transaction.atomic():
                if not _claim([(subscriber, owed)]):
                    raise _Skip
                _record([(subscriber, owed)], self.now)
                self.summary.calls += 1
                self.mailer.send(message)
        except (_Skip, IntegrityError):
            self.summary.skipped += 1
            return
        except AnymailRecipientsRefused as exc:
            suppress_refused([subscriber.email], str(exc))
            self.summary.refused += 1
            return
        except Exception as exc:
            self.failed([subscriber.email], exc)
            return
        self.counted([(subscriber, owed)])

    def send_batch(self, chunk):
        """One call for many recipients of the same email, recorded as one transaction: the rows of the
        whole call commit only if the service took it; recipients it refused are taken out again."""
        try:
            with transaction.atomic():
                claimed = _claim(chunk)
                self.summary.skipped += len(chunk) - len(claimed)
                if not claimed:
                    return
                _record(claimed, self.now)
                message = self.batch_message(claimed)
                self.summary.calls += 1
                self.mailer.send(message)
                refused = self.refused_in(message, claimed)
                if refused:
                    self.take_back(refused)
                    claimed = [
                        (subscriber, owed) for subscriber, owed in claimed if subscriber not in refused
                    ]
        except IntegrityError:
            # Another run recorded one of them meanwhile: each goes on its own, where that one is skipped.
            for subscriber, owed in chunk:
                self.send_one(subscriber, owed)
            return
        except AnymailRecipientsRefused as exc:
            suppress_refused([subscriber.email for subscriber, _ in chunk], str(exc))
            self.summary.refused += len(chunk)
            return
        except Exception as exc:
            self.failed([subscriber.email for subscriber, _ in chunk], exc)
            return
        self.counted(claimed)

    def batch_message(self, claimed):
        content = self.content(claimed[0][1])
        syntax = self.batching.field
        text, html = content.text, content.html
        for name, mark in MARKS.items():
            text = text.replace(mark, syntax.format(name))
            html = html.replace(mark, syntax.format(f"{name}_html"))
        message = AnymailMessage(
            subject=content.subject,
            body=text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[subscriber.email for subscriber, _ in claimed],
            headers=dict(COMMON_HEADERS),
        )
        message.attach_alternative(html, "text/html")
        message.merge_data, message.merge_headers = {}, {}
        for subscriber, _ in claimed:
            values = recipient_fields(subscriber)
            values.update({f"{name}_html": escape(value) for name, value in list(values.items())})
            message.merge_data[subscriber.email] = values
            message.merge_headers[subscriber.email] = unsubscribe_headers(values["unsubscribe_url"])
        return message

    def refused_in(self, message, claimed):
        """The subscribers of this batch the service refused (anymail's per-recipient status)."""
        statuses = getattr(message, "anymail_status", None)
        if statuses is None or not statuses.recipients:
            return set()
        return {
            subscriber
            for subscriber, _ in claimed
            if getattr(statuses.recipients.get(subscriber.email), "status", None) in ("rejected", "invalid")
        }

    def take_back(self, refused):
        ids = [subscriber.pk for subscriber in refused]
        Delivery.objects.filter(subscriber_id__in=ids, sent_at__gte=self.now).delete()
        NoteDelivery.objects.filter(subscriber_id__in=ids, sent_at__gte=self.now).delete()
        KeyPointDelivery.objects.filter(subscriber_id__in=ids, sent_at__gte=self.now).delete()
        CoverageDigestDelivery.objects.filter(subscriber_id__in=ids, sent_at__gte=self.now).delete()
        suppress_refused([subscriber.email for subscriber in refused], "refused in a batch send")
        self.summary.refused += len(refused)

    def failed(self, emails, exc):
        summary = self.summary
        summary.failed += len(emails)
        self.consecutive_failures += 1
        error = f"{type(exc).__name__}: {exc}"
        for email in emails[: max(0, 20 - len(summary.failures))]:
            summary.failures.append((email, error))
        self.say(f"  FAILED {emails[0]}{f' and {len(emails) - 1} more' if len(emails) > 1 else ''}: {error}")
        if isinstance(exc, MailServerUnavailable):
            summary.stopped_early = True
            self.say("  The mail server is unreachable: stopping; the next run resumes.")
            raise _Stop
        if self.consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
            summary.stopped_early = True
            self.say(f"  {self.consecutive_failures} failures in a row: stopping; the next run resumes.")
            raise _Stop
