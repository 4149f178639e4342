import json
from urllib.parse import quote

from django import template
from django.conf import settings
from django.templatetags.static import static
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from articles import figures, teasers
from articles.links import absolute

register = template.Library()

# Inside <script> only these can end the element or open a comment; escaping them keeps JSON valid.
_JSON_SCRIPT_ESCAPES = {ord("<"): "\\u003C", ord(">"): "\\u003E", ord("&"): "\\u0026"}


# Templates write `{{ url|absolute }}`; Python code imports it from articles.links.
register.filter("absolute", absolute)


@register.filter
def urlencode_all(value):
    return quote(str(value), safe="")


@register.simple_tag
def teaser(article, heading_level=2):
    """The story's card (includes/article_teaser.html), rendered once per version of what it shows."""
    return teasers.render(article, heading_level)


@register.simple_tag
def article_json_ld(article):
    """schema.org NewsArticle for search engines, safe to place inside a <script> element."""
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
    payload = json.dumps(data, ensure_ascii=False).translate(_JSON_SCRIPT_ESCAPES)
    return format_html('<script type="application/ld+json">{}</script>', mark_safe(payload))
