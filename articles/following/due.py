"""What a notification run owes whom.

What is followed
    A follow names a tag, an author, a section or one story, and has its own frequency. A story is
    owed to a confirmed subscriber when it is visible (`Article.objects.published()`, so a scheduled
    story counts once its time has come), matches one of their tag, author or section follows, went
    live no earlier than that follow and their confirmation (a new follower never receives old
    stories), and was not emailed to them before. Correction and update notes are owed, once each, on
    a story they were emailed before the note, or a story they follow from before the note. Only
    stories published, and notes added, in the last LOOKBACK_DAYS are considered, which keeps every
    query small (and bounds how far a run catches up after an outage).

When it is due
    Immediate follows are due at every run; daily and weekly follows once per digest day / every 7th
    digest day. A digest day starts at DIGEST_HOUR:00 UTC. A subscriber's daily follows are due when
    their last daily period was closed (or, before the first, they confirmed) before the start of the
    current digest day; weekly ones before the start of the digest day six days back. A story is due
    when any follow it matches is due, so a story matching an immediate and a daily follow goes at
    once, and only once. A note is due when a follow of its story (the story itself, or a tag, author
    or section of it) is due; notes that are not due yet still ride along when an email goes anyway.

One email per subscriber per run
    Everything due for an address goes in one email: stories grouped by the follows that brought them
    ("because you follow Chips and Ada Brooks"), then the notes. A due digest period is closed at the
    run whether or not it had anything new: a story published later waits for the next digest.

Candidate stories, notes and the names of their follow targets are read once per run (a handful of
queries, bounded by the look-back window) and shared by every subscriber's message.
"""

import datetime
from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, Q

from articles.following.emails import one_line
from articles.links import absolute
from articles.models import (
    Article,
    Correction,
    Delivery,
    Follow,
    Frequency,
    Subscriber,
    Suppression,
    TaggedArticle,
)

LOOKBACK_DAYS = 8  # a weekly digest's week, plus a day of slack for a late or missed run
DIGEST_HOUR = 6  # digests go out on the first run after 06:00 UTC
HERO_WIDTH = 600  # the display width of a single-story alert's image (the usual email column)
THUMB_WIDTH = 120
DIGESTS = (Frequency.DAILY, Frequency.WEEKLY)
# Followed stories matched by what they are about (a followed story brings its notes, not itself).
STORY_KINDS = ("tag", "author", "section")
KIND_ORDER = {"tag": 0, "section": 1, "author": 2, "article": 3}


def digest_cutoffs(now):
    """{frequency: cutoff}: a digest is due when its last period (or the confirmation) is older."""
    day_start = now.astimezone(datetime.UTC).replace(hour=DIGEST_HOUR, minute=0, second=0, microsecond=0)
    if day_start > now:
        day_start -= datetime.timedelta(days=1)
    return {Frequency.DAILY: day_start, Frequency.WEEKLY: day_start - datetime.timedelta(days=6)}


def _closed_at_field(frequency):
    return f"last_{frequency}_at"


def due_frequencies(subscriber, cutoffs):
    """The frequencies due for this subscriber now: immediate always, digests by their last period."""
    due = {Frequency.IMMEDIATE}
    for frequency in DIGESTS:
        closed = getattr(subscriber, _closed_at_field(frequency)) or subscriber.confirmed_at
        if closed < cutoffs[frequency]:
            due.add(frequency)
    return due


def _digest_due(frequency, cutoff):
    closed = _closed_at_field(frequency)
    return Q(**{f"{closed}__lt": cutoff}) | Q(**{f"{closed}__isnull": True, "confirmed_at__lt": cutoff})


def _follows(frequency):
    return Exists(Follow.objects.filter(subscriber=OuterRef("pk"), frequency=frequency))


def due_subscribers(now):
    """Confirmed, unsuppressed subscribers with a follow that is due: every one with an immediate
    follow, and those whose daily or weekly period is due and who have a follow of that frequency.

    Deliberately a plain filter on the subscriber table (read in primary-key batches): whether they
    have anything new is decided in Python from the batch's follows and deliveries, so no query's
    cost depends on how many (subscriber, article) pairs are pending or on the planner's statistics.
    """
    cutoffs = digest_cutoffs(now)
    due = _follows(Frequency.IMMEDIATE)
    for frequency in DIGESTS:
        due |= _digest_due(frequency, cutoffs[frequency]) & _follows(frequency)
    suppressed = Suppression.objects.filter(email=OuterRef("email"), suppressed_at__isnull=False)
    return (
        Subscriber.objects.filter(confirmed_at__isnull=False, confirmed_at__lte=now)
        .filter(due)
        .exclude(Exists(suppressed))
    )


@dataclass(frozen=True)
class Reason:
    """A followed tag, author, section or story, as an email names it."""

    kind: str
    id: int
    name: str
    url: str


@dataclass
class EmailedStory:
    """What an email shows of an article; built once per run and shared by every message."""

    id: int
    slug: str
    published_at: datetime.datetime
    title: str
    url: str
    summary: str
    hero: dict | None
    thumb: dict | None
    targets: list = field(default_factory=list)  # (kind, id) of its tags, authors and section


@dataclass
class EmailedNote:
    """A correction or update note on a story, as an email shows it."""

    id: int
    article_id: int
    kind: str  # Correction.Kind
    label: str  # "Correction" or "Update"
    note: str
    noted_at: datetime.datetime
    title: str
    url: str


def _image(hero, entry, display_width):
    if not entry or not entry.get("jpeg"):
        return None
    width = min(display_width, entry["width"])
    return {
        "url": absolute(hero.file.storage.url(entry["jpeg"])),
        "alt": hero.alt,
        "width": width,
        "height": max(1, round(entry["height"] * width / entry["width"])),
    }


def _story(article):
    hero_image = article.hero
    renditions = hero_image.renditions if hero_image else {}
    sizes = [entry for entry in renditions.get("sizes", []) if entry.get("jpeg")]
    # Sharp on high-density screens: the widest rendition up to twice the display width.
    fitting = [entry for entry in sizes if entry["width"] <= 2 * HERO_WIDTH]
    hero = (fitting or sizes or [None])[-1]
    thumb = sizes[0] if sizes else None
    return EmailedStory(
        id=article.pk,
        slug=article.slug,
        published_at=article.published_at,
        title=one_line(article.title),
        url=absolute(article.get_absolute_url()),
        summary=article.standfirst or article.excerpt,
        hero=_image(hero_image, hero, HERO_WIDTH),
        thumb=_image(hero_image, thumb, THUMB_WIDTH),
    )


class Candidates:
    """Everything a run may send, read once: stories in the window that some follow matches, notes in
    the window on stories that someone was sent or follows, and the names of what they are about."""

    def __init__(self, now):
        self.now = now
        self.since = now - datetime.timedelta(days=LOOKBACK_DAYS)
        self.stories = {}  # id -> EmailedStory
        self.by_target = {}  # (kind, id) -> [EmailedStory], newest first
        self.notes_by_article = {}  # article id -> [EmailedNote], oldest first
        self.note_targets = {}  # article id -> [(kind, id)] of a noted story
        self.reasons = {}  # (kind, id) -> Reason
        self._read_stories()
        self._read_notes()

    def __bool__(self):
        return bool(self.stories or self.notes_by_article)

    @property
    def article_ids(self):
        """The stories whose deliveries a subscriber's match needs: candidates and noted stories."""
        return self.stories.keys() | self.notes_by_article.keys()

    def _read_stories(self):
        followed = (
            Exists(Follow.objects.filter(tag__tagged_articles__content_object=OuterRef("pk")))
            | Exists(Follow.objects.filter(author__articles=OuterRef("pk")))
            | Exists(Follow.objects.filter(section=OuterRef("section_id")))
        )
        articles = (
            Article.objects.published()
            .filter(followed, published_at__gte=self.since, published_at__lte=self.now)
            .only(
                *("id", "title", "slug", "standfirst", "excerpt", "published_at"),
                *("hero__file", "hero__alt", "hero__renditions", "section__name", "section__slug"),
            )
            .select_related("hero", "section")
            .order_by("-published_at", "-id")
        )
        for article in articles:
            story = self.stories[article.pk] = _story(article)
            if article.section_id:
                self._add_target(story.targets, "section", article.section)
        self._read_targets(self.stories.keys(), lambda pk: self.stories[pk].targets)
        for story in self.stories.values():  # newest first, as read
            for target in story.targets:
                self.by_target.setdefault(target, []).append(story)

    def _read_notes(self):
        noticed = Exists(Follow.objects.filter(article=OuterRef("article_id"))) | Exists(
            Delivery.objects.filter(article=OuterRef("article_id"))
        )
        notes = (
            Correction.objects.filter(
                noticed,
                noted_at__gte=self.since,
                noted_at__lte=self.now,
                article__in=Article.objects.published(),
            )
            .select_related("article__section")
            .only(
                *("id", "article_id", "kind", "note", "noted_at"),
                *("article__title", "article__slug", "article__section__name", "article__section__slug"),
            )
            .order_by("noted_at", "id")
        )
        for note in notes:
            article = note.article
            if article.pk not in self.note_targets:
                targets = self.note_targets[article.pk] = [("article", article.pk)]
                self.reasons[("article", article.pk)] = Reason(
                    "article", article.pk, one_line(article.title), absolute(article.get_absolute_url())
                )
                if article.section_id:
                    self._add_target(targets, "section", article.section)
            self.notes_by_article.setdefault(article.pk, []).append(
                EmailedNote(
                    id=note.pk,
                    article_id=article.pk,
                    kind=note.kind,
                    label=note.get_kind_display(),
                    note=note.note,
                    noted_at=note.noted_at,
                    title=one_line(article.title),
                    url=absolute(article.get_absolute_url()),
                )
            )
        self._read_targets(self.note_targets.keys(), self.note_targets.__getitem__)

    def _add_target(self, targets, kind, target):
        targets.append((kind, target.pk))
        if (kind, target.pk) not in self.reasons:
            self.reasons[(kind, target.pk)] = Reason(
                kind, target.pk, one_line(target.name), absolute(target.get_absolute_url())
            )

    def _read_targets(self, article_ids, targets_of):
        """The tags and authors of these stories, into their target lists: two queries."""
        if not article_ids:
            return
        tagged = TaggedArticle.objects.filter(content_object__in=article_ids).select_related("tag")
        for item in tagged.order_by("tag__name"):
            self._add_target(targets_of(item.content_object_id), "tag", item.tag)
        bylines = Article.authors.through.objects.filter(article__in=article_ids).select_related("author")
        for byline in bylines.order_by("author__name"):
            self._add_target(targets_of(byline.article_id), "author", byline.author)


@dataclass(frozen=True)
class FollowRow:
    kind: str
    target_id: int
    frequency: str
    created_at: datetime.datetime


@dataclass
class Owed:
    """One subscriber's email at this run."""

    groups: list  # [(reasons tuple, [EmailedStory])], by the newest story in each group
    notes: list  # [(EmailedNote, "sent" | "followed")]
    digest: str | None  # the digest frequency this email is, or None for an alert
    closes: set  # digest frequencies whose period this run closes

    @property
    def stories(self):
        return [story for _, stories in self.groups for story in stories]

    @property
    def note_ids(self):
        return [note.id for note, _ in self.notes]


def owed_to(subscriber, follows, candidates, delivered, notes_sent, due):
    """What this subscriber gets now, as an Owed (its groups and notes may both be empty: then no email,
    but `closes` still says which digest periods end).

    follows: [FollowRow]; delivered: {article id: sent_at} of candidate and noted stories they were
    emailed; notes_sent: the ids of notes they were emailed; due: the frequencies due (due_frequencies).
    """
    matched = {}  # story id -> [FollowRow]
    by_target = {}
    for follow in follows:
        by_target[(follow.kind, follow.target_id)] = follow
        if follow.kind not in STORY_KINDS:
            continue
        floor = max(follow.created_at, subscriber.confirmed_at)
        for story in candidates.by_target.get((follow.kind, follow.target_id), ()):
            if story.published_at < floor:
                break  # newest first: the rest are older still
            if story.id not in delivered:
                matched.setdefault(story.id, []).append(follow)

    digest_kinds = set()
    groups = {}
    for story_id, matching in matched.items():
        frequencies = {follow.frequency for follow in matching}
        if not frequencies & due:
            continue  # waits for its digest
        if Frequency.IMMEDIATE not in frequencies:
            digest_kinds |= frequencies & due
        # The follows that make it due now first: an alert's subject names the first.
        ranked = sorted(
            (
                (follow.frequency not in due, candidates.reasons[(follow.kind, follow.target_id)])
                for follow in matching
            ),
            key=lambda pair: (pair[0], KIND_ORDER[pair[1].kind], pair[1].name.lower()),
        )
        reasons = tuple(reason for _, reason in ranked)
        groups.setdefault(reasons, []).append(candidates.stories[story_id])
    for stories in groups.values():
        stories.sort(key=lambda story: (story.published_at, story.id), reverse=True)
    newest = lambda group: (group[1][0].published_at, group[1][0].id)  # noqa: E731
    ordered = sorted(groups.items(), key=newest, reverse=True)

    notes, notes_due = [], False
    for article_id, article_notes in candidates.notes_by_article.items():
        sent_at = delivered.get(article_id)
        story_follow = by_target.get(("article", article_id))
        if sent_at is None and story_follow is None:
            continue
        following_since = story_follow and max(story_follow.created_at, subscriber.confirmed_at)
        covering = [by_target.get(target) for target in candidates.note_targets[article_id]]
        is_due = any(follow and follow.frequency in due for follow in covering)
        for note in article_notes:
            if note.id in notes_sent:
                continue
            if sent_at is not None and sent_at < note.noted_at:
                notes.append((note, "sent"))
            elif following_since is not None and following_since <= note.noted_at:
                notes.append((note, "followed"))
            else:
                continue
            notes_due = notes_due or is_due
    if not ordered and not notes_due:
        notes = []  # nothing is due: the notes wait for the next email
    followed_frequencies = {follow.frequency for follow in follows}
    closes = {frequency for frequency in DIGESTS if frequency in due and frequency in followed_frequencies}
    digest = Frequency.WEEKLY if Frequency.WEEKLY in digest_kinds else next(iter(digest_kinds), None)
    return Owed(groups=ordered, notes=notes, digest=digest, closes=closes)
