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

Live stories
    A follow of a story with live coverage (articles/live.py) brings, besides its notes:

    * its key points, to followers who chose "immediately" only: each key point once, those that
      became key points (LiveEntry.key_point_at) no earlier than the follow and its confirmation, in
      the last LOOKBACK_DAYS, while the story is visible. Ordinary updates are never emailed, and an
      update unpinned before the run is no key point any more.
    * one digest when the coverage ends (every key point, how many updates, when it started and
      ended), to every follower of the story at the pace of their follow: the next run for an
      immediate follow, the digest for a daily or weekly one. Once per subscriber and story: coverage
      reopened and ended again sends no second one. It is owed when the coverage ended in the last
      LOOKBACK_DAYS, or when the subscriber followed the story in that window, even after it ended:
      they asked for the story, and the digest is the story's summary. Key points owed at the same
      run as their story's digest are folded into it (recorded as sent, shown once, in the digest).

One email per subscriber per run
    Everything due for an address goes in one email: key points and ended coverage first, then stories
    grouped by the follows that brought them ("because you follow Chips and Ada Brooks"), then the
    notes. A due digest period is closed at the run whether or not it had anything new: a story
    published later waits for the next digest.

Candidate stories, notes, key points, ended coverage and the names of their follow targets are read
once per run (a handful of queries, bounded by the look-back window) and shared by every subscriber's
message.
"""

import datetime
from dataclasses import dataclass, field

from django.db.models import Count, Exists, OuterRef, Q

from articles.following.emails import one_line
from articles.links import absolute
from articles.models import (
    Article,
    Correction,
    Delivery,
    Follow,
    Frequency,
    LiveEntry,
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


@dataclass
class EmailedKeyPoint:
    """A key point of a live story, as an email shows it."""

    id: int
    article_id: int
    title: str  # the story's
    headline: str
    text: str  # the rest of the update, after its headline ("" when the headline is all of it)
    posted_at: datetime.datetime
    key_point_at: datetime.datetime
    url: str  # the update's anchor on the story page


@dataclass
class EmailedCoverage:
    """The end of a story's live coverage, as its digest shows it."""

    id: int  # the article's
    title: str
    url: str
    started_at: datetime.datetime | None
    ended_at: datetime.datetime
    updates: int
    key_points: list = field(default_factory=list)  # [EmailedKeyPoint], oldest first


def _key_point(entry, title, story_url):
    text = one_line(entry.text)
    headline = one_line(entry.headline)
    rest = text[len(headline) :].strip() if text.startswith(headline) else text
    return EmailedKeyPoint(
        id=entry.pk,
        article_id=entry.article_id,
        title=title,
        headline=headline,
        text=rest,
        posted_at=entry.posted_at,
        key_point_at=entry.key_point_at,
        url=f"{story_url}#{entry.anchor}",
    )


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
        self.key_points_by_article = {}  # article id -> [EmailedKeyPoint], oldest first
        self.endings = {}  # article id -> EmailedCoverage
        self._read_stories()
        self._read_notes()
        self._read_key_points()
        self._read_endings()

    def __bool__(self):
        return bool(self.stories or self.notes_by_article or self.key_points_by_article or self.endings)

    @property
    def key_point_ids(self):
        return [point.id for points in self.key_points_by_article.values() for point in points]

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

    def _read_key_points(self):
        """Key points made in the window on visible live stories that someone follows immediately: one
        query."""
        followed = Exists(
            Follow.objects.filter(article=OuterRef("article_id"), frequency=Frequency.IMMEDIATE)
        )
        entries = (
            LiveEntry.objects.filter(
                followed,
                is_key_point=True,
                key_point_at__gte=self.since,
                key_point_at__lte=self.now,
                article__in=Article.objects.published().exclude(coverage=Article.Coverage.NONE),
            )
            .select_related("article")
            .only(
                *("id", "article_id", "headline", "text", "posted_at", "key_point_at"),
                *("article__title", "article__slug"),
            )
            .order_by("key_point_at", "id")
        )
        for entry in entries:
            article = entry.article
            point = _key_point(entry, one_line(article.title), absolute(article.get_absolute_url()))
            self.key_points_by_article.setdefault(entry.article_id, []).append(point)

    def _read_endings(self):
        """Visible stories whose coverage ended, with followers, that ended in the window or were followed
        in it: one query, and one for all their key points."""
        follows = Follow.objects.filter(article=OuterRef("pk"))
        stories = (
            Article.objects.published()
            .filter(
                Exists(follows),
                Q(coverage_ended_at__gte=self.since) | Exists(follows.filter(created_at__gte=self.since)),
                coverage=Article.Coverage.ENDED,
                coverage_ended_at__lte=self.now,
            )
            .annotate(updates=Count("live_entries"))
            .only("id", "title", "slug", "coverage_started_at", "coverage_ended_at")
            .order_by("coverage_ended_at", "id")
        )
        for story in stories:
            self.endings[story.pk] = EmailedCoverage(
                id=story.pk,
                title=one_line(story.title),
                url=absolute(story.get_absolute_url()),
                started_at=story.coverage_started_at,
                ended_at=story.coverage_ended_at,
                updates=story.updates,
            )
        if not self.endings:
            return
        entries = (
            LiveEntry.objects.filter(article__in=list(self.endings), is_key_point=True)
            .only("id", "article_id", "headline", "text", "posted_at", "key_point_at")
            .order_by("posted_at", "id")
        )
        for entry in entries:
            ending = self.endings[entry.article_id]
            ending.key_points.append(_key_point(entry, ending.title, ending.url))

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
    key_points: list = field(default_factory=list)  # [EmailedKeyPoint] of stories followed immediately
    endings: list = field(default_factory=list)  # [EmailedCoverage]: end digests of followed stories
    folded: list = field(default_factory=list)  # ids of owed key points shown in their story's end digest

    @property
    def stories(self):
        return [story for _, stories in self.groups for story in stories]

    @property
    def note_ids(self):
        return [note.id for note, _ in self.notes]

    @property
    def key_point_ids(self):
        """The key points this email delivers: those it shows alone, and those its end digests hold."""
        return [point.id for point in self.key_points] + self.folded

    @property
    def has_content(self):
        return bool(self.groups or self.notes or self.key_points or self.endings)


def _live_owed(subscriber, follows, candidates, key_points_sent, digests_sent, due):
    """The key points and end digests of followed live stories owed now: (key points, endings, folded)."""
    key_points, endings, folded = [], [], []
    for follow in follows:
        if follow.kind != "article":
            continue
        floor = max(follow.created_at, subscriber.confirmed_at)
        ending = candidates.endings.get(follow.target_id)
        ending_now = (
            ending is not None
            and ending.id not in digests_sent
            and follow.frequency in due
            and (ending.ended_at >= candidates.since or floor >= candidates.since)
        )
        if ending_now:
            endings.append(ending)
        if follow.frequency != Frequency.IMMEDIATE:
            continue  # a digest follow gets the end digest only
        for point in candidates.key_points_by_article.get(follow.target_id, ()):
            if point.key_point_at < floor or point.id in key_points_sent:
                continue
            if ending_now:
                folded.append(point.id)
            else:
                key_points.append(point)
    endings.sort(key=lambda ending: (ending.ended_at, ending.id))
    key_points.sort(key=lambda point: (point.key_point_at, point.id))
    return key_points, endings, folded


def owed_to(subscriber, follows, candidates, delivered, notes_sent, due, key_points_sent=(), digests_sent=()):
    """What this subscriber gets now, as an Owed (it may hold nothing: then no email, but `closes` still
    says which digest periods end).

    follows: [FollowRow]; delivered: {article id: sent_at} of candidate and noted stories they were
    emailed; notes_sent: the ids of notes they were emailed; due: the frequencies due (due_frequencies);
    key_points_sent: the ids of candidate key points they were emailed; digests_sent: the ids of the
    candidate ended stories whose digest they were emailed.
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
    key_points, endings, folded = _live_owed(
        subscriber, follows, candidates, key_points_sent, digests_sent, due
    )
    if not ordered and not notes_due and not key_points and not endings:
        notes = []  # nothing is due: the notes wait for the next email
    followed_frequencies = {follow.frequency for follow in follows}
    closes = {frequency for frequency in DIGESTS if frequency in due and frequency in followed_frequencies}
    digest = Frequency.WEEKLY if Frequency.WEEKLY in digest_kinds else next(iter(digest_kinds), None)
    return Owed(
        groups=ordered,
        notes=notes,
        digest=digest,
        closes=closes,
        key_points=key_points,
        endings=endings,
        folded=folded,
    )
