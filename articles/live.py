"""Live coverage: a story marked live gets short timestamped updates (LiveEntry), newest first, with
key points pinned above them, until an editor marks it ended.

The story page shows every update and stays a cached page: an update purges it by the story's key, in
our cache and at the edge (articles/cachekeys.py), like any other change to the story. Readers with
JavaScript poll ``/news/<slug>/live/``, a small fragment of the newest updates cached and purged the
same way (static/js/live.js); without it, a reload shows them.
"""

from django.conf import settings
from django.db import models, transaction

from articles.links import absolute
from articles.models import Article, Author, LiveEntry

# The fragment readers poll holds the newest updates: more arriving between two polls than this is
# a page to reload, and the script says so.
FRAGMENT_ENTRIES = 20
# An open page asks for new updates every settings.LIVE_POLL_SECONDS (poll_seconds()); it waits longer
# after each failure, up to MAX_POLL_SECONDS, and not at all while its tab is hidden.
MAX_POLL_SECONDS = 300
# Search engines are given the newest updates only: a keynote's hundreds would bloat every page.
JSON_LD_ENTRIES = 50


def poll_seconds():
    """How often the live page's script polls: the setting, at least one second."""
    return max(1, int(settings.LIVE_POLL_SECONDS))


def timeline(article):
    """The updates of a live story, newest first, with their authors (one query)."""
    return list(article.live_entries.select_related("author"))


def may_post(user, article):
    """Editors post to any live story; a writer to the ones whose byline they are on."""
    if article.coverage != Article.Coverage.LIVE or not user.has_perm("articles.add_liveentry"):
        return False
    if user.has_perm("articles.publish_article"):
        return True
    return article.authors.filter(user=user).exists()


def may_change(user, entry):
    """Editors change any update; a writer their own."""
    if not user.has_perm("articles.change_liveentry"):
        return False
    return user.has_perm("articles.publish_article") or entry.created_by_id == user.pk


def entries_open_to(user):
    """The updates a member of the newsroom may list in the admin."""
    entries = LiveEntry.objects.all()
    if user.has_perm("articles.publish_article"):
        return entries
    return entries.filter(models.Q(created_by=user) | models.Q(article__authors__user=user)).distinct()


def post(article, user, body, is_key_point=False):
    """A new update, by the poster's byline if they have one; the story's "Updated" time moves with it."""
    author = Author.objects.filter(user=user).first() if user.is_authenticated else None
    entry = LiveEntry(article=article, body=body, is_key_point=is_key_point, author=author, created_by=user)
    entry.full_clean(exclude=["article", "author", "created_by"])  # renders it, embeds fetched first
    # One commit, so the purge it causes comes after the story's new "Updated" time too.
    with transaction.atomic():
        entry.save()
        mark_story_updated(entry)
    return entry


def mark_story_updated(entry):
    """dateModified and the "Updated" line follow the newest update of a story readers can see."""
    Article.objects.filter(
        models.Q(revised_at__isnull=True) | models.Q(revised_at__lt=entry.posted_at),
        pk=entry.article_id,
        status=Article.Status.PUBLISHED,
        published_at__lte=entry.posted_at,
    ).update(revised_at=entry.posted_at)


def json_ld(article, entries):
    """The LiveBlogPosting properties of a live story, for its NewsArticle's JSON-LD
    (articles/templatetags/news.py)."""
    url = absolute(article.get_absolute_url())
    data = {"@type": "LiveBlogPosting"}
    if article.coverage_started_at:
        data["coverageStartTime"] = article.coverage_started_at.isoformat()
    if article.coverage_ended_at:
        data["coverageEndTime"] = article.coverage_ended_at.isoformat()
    data["liveBlogUpdate"] = [
        {
            "@type": "BlogPosting",
            "headline": entry.headline,
            "url": f"{url}#{entry.anchor}",
            "datePublished": entry.posted_at.isoformat(),
            "dateModified": max(entry.posted_at, entry.updated_at).isoformat(),
            "articleBody": entry.text,
            **({"author": {"@type": "Person", "name": entry.author.name}} if entry.author else {}),
        }
        for entry in entries[:JSON_LD_ENTRIES]
    ]
    return data
