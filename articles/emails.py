"""Email alerts and digests for followed tags: who is due what, the messages, and the sending loop.

`manage.py send_notifications` (run from cron, e.g. every 5 minutes) calls `send_due_notifications()`.

What is due
    Only confirmed subscribers. An article matches a subscriber when it is visible
    (`Article.objects.published()`, so a scheduled story counts once its time has come), carries a tag
    they follow, and went live no earlier than both that follow and their confirmation: a new follower
    never receives old stories. Only articles published in the last LOOKBACK_DAYS are considered, which
    keeps every query small (and bounds how far a run catches up after an outage).

    * immediate: every run, one email with whatever matching articles they have not received yet
      (one story: a single-story alert; several: a short list).
    * daily / weekly: one digest listing every matching article not received yet, once per digest
      day / every 7th digest day. A digest day starts at DIGEST_HOUR:00 UTC. A daily digest is due
      when the subscriber's last digest (or, before the first one, their confirmation) is older than
      the start of the current digest day; a weekly one when it is older than the start of the digest
      day six days before. A due digest with nothing new sends nothing, but still closes the period
      (last_digest_at is set): a story published later waits for the next digest, not the next run.

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
    Candidate articles and their tags are read once per run (two queries; the look-back window keeps
    them few), then subscribers in keyset batches of BATCH_SIZE with their follows and recent
    deliveries (three queries a batch), then a constant handful of statements per email sent (lock,
    insert, digest update). One mail connection is reused for MESSAGES_PER_CONNECTION messages, then
    reopened. Apart from the candidate stories, nothing is held beyond one batch.
"""

import contextlib
import datetime
import logging
import re
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.template.loader import render_to_string
from django.utils import timezone

from articles.follows import CONFIRM_MAX_AGE, address_hash, follow_url, is_mailable
from articles.links import absolute
from articles.models import Article, Delivery, Follow, FollowRequest, Subscriber, TaggedArticle

logger = logging.getLogger(__name__)

LOOKBACK_DAYS = 8  # a weekly digest's week, plus a day of slack for a late or missed run
DIGEST_HOUR = 6  # digests go out on the first run after 06:00 UTC
BATCH_SIZE = 500  # subscribers read per query
MESSAGES_PER_CONNECTION = 100  # many mail servers cap the messages of one SMTP session
MAX_CONSECUTIVE_FAILURES = 10
EMAIL_TIMEOUT = 30  # seconds, when settings.EMAIL_TIMEOUT is not set: a hung server must not hang the run
PROGRESS_EVERY = 100
HERO_WIDTH = 600  # the display width of a single-story alert's image (the usual email column)
THUMB_WIDTH = 120

Frequency = Subscriber.Frequency


# ---------------------------------------------------------------------------------------------------
# What is due


def digest_cutoffs(now):
    """(daily, weekly): a digest is due when the last one (or the confirmation) is older than these."""
    day_start = now.astimezone(datetime.UTC).replace(hour=DIGEST_HOUR, minute=0, second=0, microsecond=0)
    if day_start > now:
        day_start -= datetime.timedelta(days=1)
    return day_start, day_start - datetime.timedelta(days=6)


def _digest_due(cutoff):
    return Q(last_digest_at__lt=cutoff) | Q(last_digest_at__isnull=True, confirmed_at__lt=cutoff)


def live_articles(now):
    """Visible articles inside the look-back window, as of `now` (fixed for the whole run)."""
    since = now - datetime.timedelta(days=LOOKBACK_DAYS)
    return Article.objects.published().filter(published_at__gte=since, published_at__lte=now)


def due_subscribers(now):
    """Confirmed subscribers whose turn it is: every immediate one, and digests that are due.

    Deliberately a plain filter on the subscriber table (read in primary-key batches): whether they
    have anything new is decided in Python from the batch's follows and deliveries, so no query's
    cost depends on how many (subscriber, article) pairs are pending or on the planner's statistics.
    """
    daily, weekly = digest_cutoffs(now)
    return Subscriber.objects.filter(confirmed_at__isnull=False, confirmed_at__lte=now).filter(
        Q(frequency=Frequency.IMMEDIATE)
        | (Q(frequency=Frequency.DAILY) & _digest_due(daily))
        | (Q(frequency=Frequency.WEEKLY) & _digest_due(weekly))
    )


# ---------------------------------------------------------------------------------------------------
# Candidate articles, prepared once per run


@dataclass
class Story:
    """What an email shows of an article; built once per run and shared by every message."""

    id: int
    slug: str
    published_at: datetime.datetime
    title: str
    url: str
    summary: str
    hero: dict | None
    thumb: dict | None
    tags: dict = field(default_factory=dict)  # tag id -> {"name", "url"}


def _image(article, entry, display_width):
    if not entry or not entry.get("jpeg"):
        return None
    width = min(display_width, entry["width"])
    return {
        "url": absolute(article.hero_image.storage.url(entry["jpeg"])),
        "alt": article.hero_alt,
        "width": width,
        "height": max(1, round(entry["height"] * width / entry["width"])),
    }


def _story(article):
    sizes = [entry for entry in article.hero_renditions.get("sizes", []) if entry.get("jpeg")]
    # Sharp on high-density screens: the widest rendition up to twice the display width.
    fitting = [entry for entry in sizes if entry["width"] <= 2 * HERO_WIDTH]
    hero = (fitting or sizes or [None])[-1]
    thumb = sizes[0] if sizes else None
    return Story(
        id=article.pk,
        slug=article.slug,
        published_at=article.published_at,
        title=_one_line(article.title),
        url=absolute(article.get_absolute_url()),
        summary=article.standfirst or article.excerpt,
        hero=_image(article, hero, HERO_WIDTH),
        thumb=_image(article, thumb, THUMB_WIDTH),
    )


def candidate_stories(now):
    """{tag id: [Story, newest first]} for every live article in the window under a followed tag."""
    articles = (
        live_articles(now)
        .filter(Exists(Follow.objects.filter(tag__tagged_articles__content_object=OuterRef("pk"))))
        .only(
            "id",
            "title",
            "slug",
            "standfirst",
            "excerpt",
            "published_at",
            "hero_image",
            "hero_alt",
            "hero_renditions",
        )
        .order_by("-published_at", "-id")
    )
    stories = {article.pk: _story(article) for article in articles}
    by_tag = {}
    tagged = TaggedArticle.objects.filter(content_object__in=articles.values("pk")).select_related("tag")
    for item in tagged.order_by("tag__name"):
        story = stories.get(item.content_object_id)
        if story is None:  # published in between the two queries: left for the next run
            continue
        story.tags[item.tag_id] = {"name": item.tag.name, "url": absolute(item.tag.get_absolute_url())}
        by_tag.setdefault(item.tag_id, []).append(story)
    for tag_stories in by_tag.values():
        tag_stories.sort(key=lambda story: (story.published_at, story.id), reverse=True)
    return by_tag


def matching_stories(subscriber, follows, by_tag, delivered):
    """[(Story, [matched tag dicts])], newest first, that this subscriber should receive now.

    follows: [(tag id, followed at)]; delivered: the ids of articles they already received.
    """
    matches = {}
    for tag_id, followed_at in follows:
        floor = max(followed_at, subscriber.confirmed_at)
        for story in by_tag.get(tag_id, ()):
            if story.published_at < floor:
                break  # newest first: the rest are older still
            if story.id not in delivered:
                matches.setdefault(story.id, (story, []))[1].append(story.tags[tag_id])
    ordered = sorted(matches.values(), key=lambda pair: (pair[0].published_at, pair[0].id), reverse=True)
    for _, tags in ordered:
        tags.sort(key=lambda tag: tag["name"].lower())
    return ordered


# ---------------------------------------------------------------------------------------------------
# Messages


def _one_line(text):
    return re.sub(r"\s+", " ", text).strip()


def join_names(names, limit=3):
    """Names for a subject line: 'A', 'A and B', 'A, B and C', 'A, B, C and 2 more'."""
    names = list(names)
    if len(names) > limit:
        return f"{', '.join(names[:limit])} and {len(names) - limit} more"
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def _stories_count(count):
    return f"{count} new {'story' if count == 1 else 'stories'}"


def subject_for(subscriber, matches):
    if subscriber.frequency == Frequency.IMMEDIATE:
        if len(matches) == 1:
            story, tags = matches[0]
            return _one_line(f"New on {tags[0]['name']}: {story.title}")
        names = sorted({tag["name"] for _, tags in matches for tag in tags}, key=str.lower)
        return _one_line(f"{_stories_count(len(matches))} on {join_names(names)}")
    kind = "weekly" if subscriber.frequency == Frequency.WEEKLY else "daily"
    return _one_line(f"Your {kind} {settings.SITE_NAME} digest: {_stories_count(len(matches))}")


def build_message(subscriber, matches, connection=None):
    """The alert or digest for one subscriber: text and HTML parts, one-click unsubscribe headers."""
    unsubscribe_url = follow_url(subscriber, "unsubscribe")
    digest = subscriber.frequency != Frequency.IMMEDIATE
    context = {
        "site_name": settings.SITE_NAME,
        "site_url": settings.SITE_URL,
        "subscriber": subscriber,
        "items": [{"story": story, "tags": tags} for story, tags in matches],
        "count": len(matches),
        "manage_url": follow_url(subscriber, "manage"),
        "unsubscribe_url": unsubscribe_url,
    }
    template = "emails/digest" if digest else "emails/notification"
    message = EmailMultiAlternatives(
        subject=subject_for(subscriber, matches),
        body=render_to_string(f"{template}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[subscriber.email],
        headers={
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",  # RFC 8058
            "Auto-Submitted": "auto-generated",  # RFC 3834: no vacation auto-replies, please
        },
        connection=connection,
    )
    message.attach_alternative(render_to_string(f"{template}.html", context), "text/html")
    return message


# ---------------------------------------------------------------------------------------------------
# Sending


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
        since = self.now - datetime.timedelta(days=LOOKBACK_DAYS)
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
