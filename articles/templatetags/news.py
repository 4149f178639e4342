import json
from urllib.parse import quote

from django import template
from django.conf import settings
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from articles import context_processors, figures, live, teasers
from articles.following.targets import Followable
from articles.links import absolute
from conclave import pagecache

register = template.Library()

# Inside <script> only these can end the element or open a comment; escaping them keeps JSON valid.
_JSON_SCRIPT_ESCAPES = {ord("<"): "\\u003C", ord(">"): "\\u003E", ord("&"): "\\u0026"}


# Templates write `{{ url|absolute }}`; Python code imports it from articles.links.
register.filter("absolute", absolute)


@register.filter
def urlencode_all(value):
    return quote(str(value), safe="")


@register.simple_tag(takes_context=True)
def site_header(context):
    """includes/header.html, kept per current section until the navigation changes (the search page,
    whose box holds the reader's words, renders its own)."""
    current = context.get("current_section")
    fresh = {"site_name": context.get("site_name"), "current_section": current}
    if context.get("search_query"):
        shown = {
            **fresh,
            "nav_sections": context.get("nav_sections"),
            "search_query": context["search_query"],
        }
        return render_to_string("includes/header.html", shown)
    return pagecache.remember(
        f"header:{current.pk if current else ''}",
        lambda: render_to_string(
            "includes/header.html", {**fresh, "nav_sections": context_processors.navigation_sections()}
        ),
        context_processors.NAV_CACHE_SECONDS,
        exact=True,  # what it shows (the sections) purges the navigation's key
    )


@register.simple_tag(takes_context=True)
def site_footer(context):
    """includes/footer.html, kept per page feed until the archive link changes (the footer's key)."""
    feed_urls, site_feed_urls = context.get("feed_urls"), context.get("site_feed_urls")
    own_feed = feed_urls[0] if feed_urls and feed_urls[0] != site_feed_urls[0] else ""
    return pagecache.remember(
        f"footer:{own_feed}",
        lambda: render_to_string(
            "includes/footer.html",
            {
                "site_name": context.get("site_name"),
                "feed_urls": feed_urls,
                "site_feed_urls": site_feed_urls,
                "archive_url": context_processors.newest_archive_url(),
            },
        ),
        context_processors.NAV_CACHE_SECONDS,
        exact=True,  # the archive link purges the footer's key, and says until when it holds
    )


@register.inclusion_tag("includes/follow_box.html")
def follow_box(subject):
    """The follow box of a tag, author, section or story page: the same for every reader (no CSRF token),
    as those pages may come from a shared cache."""
    return {"target": Followable(subject), "coverage": getattr(subject, "coverage", "")}


@register.simple_tag
def teaser(article, heading_level=2):
    """The story's card (includes/article_teaser.html), rendered once per version of what it shows."""
    return teasers.render(article, heading_level)


@register.simple_tag
def lead_story(article):
    """The home page's lead (includes/article_lead.html), rendered once per version of what it shows."""
    return teasers.render(article, 2, teasers.LEAD_TEMPLATE)


@register.simple_tag
def article_json_ld(article, live_entries=()):
    """schema.org NewsArticle for search engines, safe to place inside a <script> element; a story with
    live coverage is a LiveBlogPosting with its updates."""
    url = absolute(article.get_absolute_url())
    publisher = {
        "@type": "NewsMediaOrganization",
        "name": settings.SITE_NAME,
        "url": settings.SITE_URL + "/",
        "logo": {"@type": "ImageObject", "url": absolute(static("img/logo-512.png"))},
    }
    data = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "mainEntityOfPage": {"@type": "WebPage", "@id": url},
        "url": url,
        "headline": article.title[:110],
        "description": article.description,
        "datePublished": article.published_at.isoformat() if article.published_at else None,
        "dateModified": article.modified_at.isoformat() if article.modified_at else None,
        "author": [
            {"@type": "Person", "name": author.name, "url": absolute(author.get_absolute_url())}
            for author in article.authors.all()
        ]
        or [{"@type": "Organization", "name": settings.SITE_NAME}],
        "publisher": publisher,
        "keywords": [tag.name for tag in article.tags.all()],
    }
    if article.section:
        data["articleSection"] = article.section.name
    # The hero first (what a result shows), then every figure of the body, as search engines ask.
    pictures = dict.fromkeys(filter(None, [article.hero_social_url, *figures.image_urls(article.body_html)]))
    if pictures:
        data["image"] = [absolute(url) for url in pictures]
    if article.coverage:
        # One type: Google reads LiveBlogPosting's coverage times and updates, and NewsArticle's
        # properties are all Article's, which LiveBlogPosting is too.
        data.update(live.json_ld(article, live_entries))
    payload = json.dumps(data, ensure_ascii=False).translate(_JSON_SCRIPT_ESCAPES)
    return format_html('<script type="application/ld+json">{}</script>', mark_safe(payload))
