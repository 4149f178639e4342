"""Surrogate keys: what each public page shows, and which change purges which pages (DESIGN.md, "How a
request flows", 3).

A page names everything it shows by key while it is made (``conclave.pagecache.shows``): the story on a
story page, a card per story listed, the sections, tags and authors it names, the listings it is a page
of, the navigation and the footer. After a commit, a change purges the keys of what it changed
(``CHANGES``, the one table of what touches what), in our page cache and, through the same keys, at the
edge. Everything is exact except a story page's related-stories box, which may lag a publish by up to
``RELATED_LAG_SECONDS``: being exact would tie every story to every other story sharing a tag.
"""

import datetime
from functools import partial

from django.db import transaction
from django.utils import timezone

from articles import edge
from conclave import pagecache

# Site-wide parts, on every HTML page.
NAV = "nav"  # the header's sections
FOOTER = "footer"  # its archive link names the newest month
# Listings no single subject owns.
HOME = "list-home"
EVERY_STORY = "list-all"  # the site's feeds, the sitemaps, search results and the topics index
SEARCH = "search"  # search results also change when a live story's words do
SITEMAP = "sitemap"  # and the sitemaps when its address or its last-modified date does
ARCHIVE_MONTHS = "archive-months"  # the archive's links to the months before and after
SCHEDULE = pagecache.SCHEDULE_KEY

# A story page's related box may lag a publish by this long (it is kept, and the page with it).
RELATED_LAG_SECONDS = 600

# What a card (a teaser in a listing) shows of a story: a change to any of these purges the listings.
CARD_FIELDS = ("title", "standfirst", "slug", "hero_id", "section_id", "published_at", "is_featured")
CARD_FIELDS += ("coverage",)  # a "Live" mark
# What orders and files a live story into listings: a change moves it between or within them.
PLACE_FIELDS = ("section_id", "published_at", "is_featured")
# What search matches and the sitemaps date.
TEXT_FIELDS = ("title", "standfirst", "body")
SITEMAP_FIELDS = ("slug", "published_at", "revised_at")


def story(pk):
    return f"story-{pk}"


def card(pk):
    return f"card-{pk}"


def section(pk):
    return f"section-{pk}"


def author(pk):
    return f"author-{pk}"


def tag(pk):
    return f"tag-{pk}"


def section_list(pk):
    return f"list-section-{pk}"


def author_list(pk):
    return f"list-author-{pk}"


def tag_list(pk):
    return f"list-tag-{pk}"


def month_list(when):
    # Archive months are the site's own time zone's, like the archive pages.
    if isinstance(when, datetime.datetime):
        when = timezone.localtime(when)
    return f"list-month-{when:%Y-%m}"


# -- What pages show -----------------------------------------------------------------------------------


def show_cards(articles):
    """Teasers: each shows its story's card and the name of its section."""
    keys = []
    for article in articles:
        keys.append(card(article.pk))
        if article.section_id:
            keys.append(section(article.section_id))
    pagecache.shows(*keys)


def show_story(article, tags, authors):
    pagecache.shows(
        story(article.pk),
        *([section(article.section_id)] if article.section_id else []),
        *(tag(t.pk) for t in tags),
        *(author(a.pk) for a in authors),
    )


def show_subject(subject):
    """A section's, author's or tag's own listing page or feed: its name, and the stories it lists."""
    name = subject._meta.model_name
    show_listing(f"{name}-{subject.pk}", f"list-{name}-{subject.pk}")


def show_feed_items(articles):
    """Feed items carry the whole story, its tags as categories and its authors' names."""
    keys = []
    for article in articles:
        keys.append(story(article.pk))
        keys += [tag(t.pk) for t in article.tags.all()] + [author(a.pk) for a in article.authors.all()]
    pagecache.shows(*keys)


def show_listing(*keys):
    """A listing of live stories: it changes with no save when a scheduled story goes live."""
    if pagecache.is_making_a_page():  # the schedule is read only for a page that will be kept
        pagecache.shows(*keys, until=pagecache.site_timeline().next_scheduled)


def show_footer():
    if pagecache.is_making_a_page():
        pagecache.shows(FOOTER, until=pagecache.site_timeline().next_new_month)


def show_archive_months():
    if pagecache.is_making_a_page():
        pagecache.shows(ARCHIVE_MONTHS, until=pagecache.site_timeline().next_new_month)


# -- What changes purge --------------------------------------------------------------------------------


def lists_of(article_pk, section_id, published_at, tag_ids, author_ids):
    """Every listing a live story is on."""
    keys = [HOME, EVERY_STORY, SEARCH, SITEMAP, card(article_pk)]
    if section_id:
        keys.append(section_list(section_id))
    if published_at:
        keys.append(month_list(published_at))
    keys += [tag_list(pk) for pk in tag_ids] + [author_list(pk) for pk in author_ids]
    return keys


def _lists(article, values):
    return lists_of(
        article.pk,
        values.get("section_id"),
        values.get("published_at"),
        _ids(article, "tags"),
        _ids(article, "authors"),
    )


def _ids(article, relation):
    return [row.pk for row in getattr(article, relation).all()]


def month_changes(article, when):
    """The footer (the newest month) and the archive's links between months change only when a month
    gains its first live story or loses its last: then, and only then, they are purged."""
    if when is None:
        return []
    start = timezone.localtime(when).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + datetime.timedelta(days=32)).replace(day=1)
    month = type(article).objects.published().filter(published_at__gte=start, published_at__lt=end)
    return [] if month.exclude(pk=article.pk).exists() else [FOOTER, ARCHIVE_MONTHS]


def story_published(article, before, after):
    return [
        story(article.pk),
        SCHEDULE,
        *month_changes(article, after["published_at"]),
        *_lists(article, after),
    ]


def story_taken_down(article, before, after):
    return [
        story(article.pk),
        SCHEDULE,
        *month_changes(article, before["published_at"]),
        *_lists(article, before),
    ]


def story_scheduled(article, before, after):
    # Not public yet, but the listings it will enter (and the footer, if it opens a month) must not be
    # kept past its time: purged now, they are made again knowing it (``show_listing``).
    keys = [SCHEDULE, *month_changes(article, after["published_at"]), *_lists(article, after)]
    if before.get("status") == "published":  # moved from another time: that one's listings too
        keys += _lists(article, before)
    return keys


def story_corrected(article, before, after):
    changed = {name for name in set(before) | set(after) if before.get(name) != after.get(name)}
    keys = [story(article.pk)]
    if changed & set(CARD_FIELDS):
        keys.append(card(article.pk))
    if changed & set(PLACE_FIELDS):
        keys += [SCHEDULE, *_lists(article, before), *_lists(article, after)]
        if before["published_at"] != after["published_at"]:
            keys += month_changes(article, before["published_at"]) + month_changes(
                article, after["published_at"]
            )
    if changed & set(TEXT_FIELDS):
        keys.append(SEARCH)
    if changed & set(SITEMAP_FIELDS):
        keys.append(SITEMAP)
    return keys


def _byline(article, author_ids):
    return [story(article.pk), *map(author_list, author_ids)]


def _tagging(article_pk, tag_pk):
    # The home page counts its busiest tags, and the topics index every tag's stories.
    return [story(article_pk), tag_list(tag_pk), HOME, EVERY_STORY]


def _stories_and_cards(article_pks):
    return [key for pk in article_pks for key in (story(pk), card(pk))]


# The one table: each kind of change, whether it takes something away from readers (a hard purge: no
# copy made before it is served again, not even during the grace), and the keys it purges.
CHANGES = {
    "story published": (False, story_published),
    "story taken down": (True, story_taken_down),
    "story scheduled": (False, story_scheduled),
    "story corrected": (False, story_corrected),
    # A draft's edit shows on no page: nothing.
    "byline added": (False, _byline),
    "byline removed": (True, _byline),
    "tag added": (False, _tagging),
    "tag removed": (True, _tagging),
    # A scheduled story shows nowhere yet: only the listings it will enter, not to be kept past its time.
    "scheduled story tagged": (False, lambda article_pk, tag_pk: [tag_list(tag_pk)]),
    "scheduled story's byline": (False, lambda article, author_ids: list(map(author_list, author_ids))),
    "correction noted": (False, lambda article_pk: [story(article_pk), SITEMAP]),
    "correction deleted": (True, lambda article_pk: [story(article_pk), SITEMAP]),
    # A live story's page and the fragment its readers poll show the story key; an update also moves the
    # story's last-modified date in the sitemaps.
    "live update posted": (False, lambda article_pk: [story(article_pk), SITEMAP]),
    "live update deleted": (True, lambda article_pk: [story(article_pk), SITEMAP]),
    "section changed": (False, lambda pk: [section(pk), section_list(pk), NAV, SITEMAP]),
    "section deleted": (True, lambda pk: [section(pk), section_list(pk), NAV, SITEMAP]),
    "author changed": (False, lambda pk: [author(pk), author_list(pk), SITEMAP]),
    "author deleted": (True, lambda pk: [author(pk), author_list(pk), SITEMAP]),
    "tag changed": (False, lambda pk: [tag(pk), tag_list(pk), EVERY_STORY]),
    "tag deleted": (True, lambda pk: [tag(pk), tag_list(pk), EVERY_STORY]),
    "tag redirected": (False, lambda tag_pk: [tag(tag_pk), tag_list(tag_pk), EVERY_STORY]),
    "picture changed": (False, lambda article_pks: [SITEMAP, *_stories_and_cards(article_pks)]),
    "picture deleted": (True, lambda article_pks: [SITEMAP, *_stories_and_cards(article_pks)]),
    "embed fetched": (False, lambda article_pks: [story(pk) for pk in article_pks]),
    # Every page: a new renderer (rerender_articles), or a bulk load.
    "everything": (False, lambda: [pagecache.SITE_KEY]),
}


def purge_on_commit(change, *args, using=None):
    """Purge what ``change`` touches once the transaction commits: purged earlier, a reader could make
    the old page again, under the new versions, before the change is visible."""
    hard, keys_of = CHANGES[change]
    keys = frozenset(keys_of(*args))
    # Robust: the change is committed whatever happens next; a failing purge is logged, and an edge
    # purge that fails is kept and tried again (articles/edge.py).
    transaction.on_commit(partial(purge_everywhere, keys, hard=hard), using=using, robust=True)
    return keys


def purge_everywhere(keys, hard=False):
    """Our page cache first, then the edge, which may fetch from it as soon as it is purged."""
    pagecache.purge(keys, hard=hard)
    edge.purge_at_edge(keys)
