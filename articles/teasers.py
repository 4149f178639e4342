"""A story's teaser (its card on listings and in the related box) and the home page's lead, rendered
once and then reused.

A listing shows up to dozens of teasers, and rendering each through the template engine was most of
what a listing page cost to make. A teaser's HTML depends only on a few fields of the story, its section
and its hero picture, and on the template: the cache keeps it under a fingerprint of exactly those, so
any change to what a teaser shows gives a new key, and nothing ever needs purging. (Pages showing the
teaser are purged by their own keys, articles/cachekeys.py: this is only the brick they are made of.)

Search results are rendered as they are: they carry the reader's highlighted words.
"""

import hashlib
import logging

from django.conf import settings
from django.core.cache import cache
from django.template import loader
from django.utils.safestring import mark_safe

logger = logging.getLogger(__name__)

TEMPLATE = "includes/article_teaser.html"
LEAD_TEMPLATE = "includes/article_lead.html"  # the home page's lead: the same fields, a larger picture
# Kept as long as anything: the key changes with what it shows, so an old entry is only ever unused.
KEEP_SECONDS = 24 * 60 * 60
# Whatever the Python side of a teaser reads beyond the fields below (the hero's thumbnail and focus
# class): change this when that code changes, so that teasers made by the old code are not reused.
FORMAT = "teaser-1"

_template_fingerprints = {}  # template name -> a hash of its source, as this process loaded it


def _template(name):
    template = loader.get_template(name)
    if name not in _template_fingerprints:
        source = template.template.source.encode()
        _template_fingerprints[name] = hashlib.blake2b(source, digest_size=8).hexdigest()
    return template


def fingerprint(article, heading_level, template_name=TEMPLATE):
    """Everything a teaser shows, hashed: the same key exactly when the HTML would be the same."""
    section, hero = article.section, article.hero
    shown = (
        FORMAT,
        template_name,
        _template_fingerprints[template_name],
        settings.MEDIA_URL,
        heading_level,
        article.pk,
        article.slug,
        article.title,
        article.standfirst,
        article.published_at,
        section and (section.pk, section.slug, section.name),
        hero and (hero.pk, hero.file.name, hero.renditions, hero.focal_x, hero.focal_y),
    )
    return "teaser:" + hashlib.blake2b(repr(shown).encode(), digest_size=16).hexdigest()


def render(article, heading_level=2, template_name=TEMPLATE):
    """The teaser's HTML, from the cache when its fingerprint is there."""
    template = _template(template_name)
    context = {"article": article, "heading_level": heading_level}
    if hasattr(article, "search_title"):
        return template.render(context)
    key = fingerprint(article, heading_level, template_name)
    try:
        html = cache.get(key)
    except Exception as exc:
        logger.warning("Cache unavailable, rendering teasers uncached: %s", exc)
        return template.render(context)
    if html is None:
        html = template.render(context)
        try:
            cache.set(key, str(html), KEEP_SECONDS)
        except Exception as exc:
            logger.warning("Cache unavailable, teaser not kept: %s", exc)
    return mark_safe(html)  # noqa: S308 -- the template's own output, escaped as it rendered
