"""What a notification run owes whom.

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

Candidate articles and their tags are read once per run (two queries; the look-back window keeps them
few) and shared by every subscriber's message.
"""

import datetime
from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, Q

from articles.following.emails import one_line
from articles.links import absolute
from articles.models import Article, Follow, Subscriber, TaggedArticle

LOOKBACK_DAYS = 8  # a weekly digest's week, plus a day of slack for a late or missed run
DIGEST_HOUR = 6  # digests go out on the first run after 06:00 UTC
HERO_WIDTH = 600  # the display width of a single-story alert's image (the usual email column)
THUMB_WIDTH = 120

Frequency = Follow.Frequency


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
    tags: dict = field(default_factory=dict)  # tag id -> {"name", "url"}


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


def candidate_stories(now):
    """{tag id: [EmailedStory, newest first]} for every live article in the window under a followed tag."""
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
            "hero__file",
            "hero__alt",
            "hero__renditions",
        )
        .select_related("hero")
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
    """[(EmailedStory, [matched tag dicts])], newest first, that this subscriber should receive now.

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
