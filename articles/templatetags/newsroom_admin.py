"""The admin index as a newsroom dashboard: what is waiting, what comes next, what went out today."""

import datetime

from django import template
from django.db.models import prefetch_related_objects
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.timesince import timesince, timeuntil

from articles import readership
from articles.models import Article

register = template.Library()

PANEL_SIZE = 10
RECENT = datetime.timedelta(hours=24)


@register.simple_tag(takes_context=True)
def newsroom_dashboard(context):
    """Drafts waiting, the next scheduled stories, the last 24 hours' publishing and the most read stories
    of the last 24 hours and 7 days, in at most six queries.

    None for a user who may not see articles. A user who may not publish (a Writer) sees only the drafts
    they created; everyone sees the whole schedule and what went out.
    """
    user = context["request"].user
    if not user.has_perm("articles.view_article"):
        return None
    now = timezone.now()
    # Only what the panels print: no bodies, no image metadata.
    rows = Article.objects.only(
        "title", "slug", "status", "published_at", "updated_at", "created_by"
    ).select_related("created_by")

    drafts = rows.filter(status=Article.Status.DRAFT)
    drafts_filter = {"status__exact": Article.Status.DRAFT}
    own_drafts_only = not user.has_perm("articles.publish_article")
    if own_drafts_only:
        drafts = drafts.filter(created_by=user)
        drafts_filter["created_by__id__exact"] = user.pk
    drafts = list(drafts.order_by("-updated_at", "-id")[:PANEL_SIZE])

    scheduled = list(rows.scheduled(now).order_by("published_at", "id")[:PANEL_SIZE])

    since = now - RECENT
    recent_rows = rows.published().filter(published_at__gte=since)
    recent = list(recent_rows.order_by("-published_at", "-id")[:PANEL_SIZE])
    # A short list is the whole list: count only when there may be more than fit the panel.
    recent_count = recent_rows.count() if len(recent) == PANEL_SIZE else len(recent)

    prefetch_related_objects([*drafts, *scheduled, *recent], "authors")
    # Counted in the cache, not the database: read fresh here (staff pages are never cached).
    read_day, read_week = readership.most_read_stories(
        readership.DAY_HOURS, readership.WEEK_HOURS, limit=PANEL_SIZE
    )

    return {
        "drafts": drafts,
        "own_drafts_only": own_drafts_only,
        "drafts_url": _changelist_url(drafts_filter),
        "scheduled": scheduled,
        "scheduled_url": _changelist_url(
            {"status__exact": Article.Status.PUBLISHED, "published_at__gt": now}
        ),
        "recent": recent,
        "recent_count": recent_count,
        "read_day": read_day,
        "read_week": read_week,
        "recent_url": _changelist_url(
            {"status__exact": Article.Status.PUBLISHED, "published_at__gte": since, "published_at__lte": now}
        ),
    }


def _changelist_url(filters):
    # Times go out with their UTC offset, so the changelist never filters on a naive datetime.
    params = {
        key: timezone.localtime(value).isoformat(timespec="seconds")
        if isinstance(value, datetime.datetime)
        else value
        for key, value in filters.items()
    }
    return f"{reverse('admin:articles_article_changelist')}?{urlencode(params)}"


@register.filter
def byline(article):
    """The byline's authors, or failing those who created the article (authors prefetched)."""
    names = [author.name for author in article.authors.all()]
    if names:
        return "By " + ", ".join(names)
    if article.created_by:
        return "Created by " + (article.created_by.get_full_name() or article.created_by.get_username())
    return ""


def _to_the_minute(delta):
    # Rounded, not cut: a story due at 12:00 reads "in 3 hours" at 08:59:58, not "in 2 hours".
    return datetime.timedelta(minutes=round(delta.total_seconds() / 60))


@register.filter
def ago(value):
    """How long ago, as "2 hours ago": the largest unit only, which is what a glance wants."""
    elapsed = _to_the_minute(timezone.now() - value)
    if elapsed < datetime.timedelta(minutes=1):
        return "just now"
    return f"{timesince(value, now=value + elapsed, depth=1)} ago"


@register.filter
def from_now(value):
    """How long until, as "in 3 hours": the counterpart of `ago` for what is scheduled."""
    remaining = _to_the_minute(value - timezone.now())
    if remaining < datetime.timedelta(minutes=1):
        return "in under a minute"
    return f"in {timeuntil(value, now=value - remaining, depth=1)}"
