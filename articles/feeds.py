"""RSS 2.0 and Atom feeds of the newest published articles: all of them, or one section's, author's or tag's.

Every URL in a feed (links, ids, enclosures, the self link, links inside the article HTML) is absolute and
built from settings.SITE_URL, never from the request's Host header or scheme: Django's Feed only completes
relative URLs with the request's host, so handing it absolute ones leaves the request out of it.

Content: RSS items carry the summary in <description> and the full article HTML in <content:encoded>,
Atom entries the same in <summary> and <content>. Feed readers show the full text when they have it and fall
back to the summary; services that only read <description> (notifications, digests) get a short teaser.

Plain text (headlines, tag and section names): Atom says so (type="text", the default), but RSS 2.0 never
says what its titles hold, and most readers decode them as HTML, so a headline `Why <b>bold</b> matters`
showed in bold. The RSS feed escapes its titles and channel description once more as HTML, as the summary
already is; Atom keeps them as they are.
"""

import html
import re
from urllib.parse import urljoin

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import feedgenerator
from django.utils.html import escape

from articles import cachekeys
from articles.embeds import facades
from articles.links import absolute
from articles.models import Article, Author, Section, Tag
from articles.tag_governance import moved_permanently, resolve_tag_slug

FEED_LENGTH = 20

# XML 1.0 forbids these; a pasted vertical tab (Word's line break) in a headline must not break a feed.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# href/src of a tag in sanitized body_html: the serializer always double-quotes attribute values and
# escapes "<" in text, so "<a …" or "<img …" here is always a real tag.
_URL_ATTRIBUTE = re.compile(r'(<(?:a|img)\b[^>]*?\s(?:href|src)=")([^"]*)"')


def xml_text(value):
    """Text without the control characters XML 1.0 cannot carry."""
    return _XML_ILLEGAL.sub("", value)


def absolute_links(html, base_url):
    """Resolve relative href/src values in sanitized HTML against the page they were written for."""
    return _URL_ATTRIBUTE.sub(lambda m: f'{m[1]}{urljoin(base_url, m[2])}"', html)


# Our own figure markup (articles/figures.py; bodies cannot write <picture> or <source>): feed readers
# show a plain <img> best, and a srcset's URLs are not resolved against the feed by any of them.
_PICTURE_PARTS = re.compile(
    r'</?picture>|<source [^>]*>| (?:srcset|sizes|loading|decoding|class)="[^"]*"(?=[^<]*>)'
)


def for_feed_readers(html, base_url):
    """Body HTML as a feed carries it: plain images, every link and image address absolute, and each embed
    a link to the original named by its stored title (no feed reader runs our script or frames)."""
    return absolute_links(_PICTURE_PARTS.sub("", facades.as_links(html)), base_url)


def html_text(value):
    """Plain text as HTML text: what a reader that decodes RSS titles as HTML shows as it was written."""
    # Quotes need no escaping in HTML text: left alone, readers that show titles as plain text show them.
    return html.escape(value, quote=False)


class ArticleRssFeed(feedgenerator.Rss201rev2Feed):
    """RSS 2.0 with the full article in content:encoded and one dc:creator per author; titles as HTML text."""

    def __init__(self, title, link, description, **kwargs):
        super().__init__(html_text(title), link, html_text(description), **kwargs)

    def add_item(self, title, link, description, **kwargs):
        super().add_item(html_text(title), link, description, **kwargs)

    def rss_attributes(self):
        return {
            **super().rss_attributes(),
            "xmlns:content": "http://purl.org/rss/1.0/modules/content/",
            "xmlns:dc": "http://purl.org/dc/elements/1.1/",
        }

    def add_item_elements(self, handler, item):
        super().add_item_elements(handler, item)
        for name, _link in item["authors"]:
            handler.addQuickElement("dc:creator", name)
        handler.addQuickElement("content:encoded", item["content"])


class ArticleAtomFeed(feedgenerator.Atom1Feed):
    """Atom with the full article as <content type="html"> and one <author> per author."""

    def add_item_elements(self, handler, item):
        super().add_item_elements(handler, item)
        for name, link in item["authors"]:
            handler.startElement("author", {})
            handler.addQuickElement("name", name)
            handler.addQuickElement("uri", link)
            handler.endElement("author")
        handler.addQuickElement("content", item["content"], {"type": "html"})


class LatestFeed(Feed):
    """The newest published articles of the whole site."""

    feed_type = ArticleRssFeed
    url_name = "articles:feed"

    def get_object(self, request, **kwargs):
        return None

    def articles(self, obj):
        return Article.objects.published()

    def items(self, obj):
        items = list(
            self.articles(obj)
            .defer("body", "search_vector")  # the Markdown source and the search index are not shown
            .select_related("hero")
            .prefetch_related("authors", "tags")
            .order_by("-published_at", "-id")[:FEED_LENGTH]
        )
        self.show_listing(obj)
        cachekeys.show_feed_items(items)
        return items

    def show_listing(self, obj):
        cachekeys.show_listing(cachekeys.EVERY_STORY)

    # The channel.

    def title(self, obj):
        return settings.SITE_NAME

    def link(self, obj):
        return absolute(reverse("articles:home"))

    def description(self, obj):
        return f"The latest technology news from {settings.SITE_NAME}."

    subtitle = description  # Atom's name for it

    def feed_url(self, obj):
        kwargs = {"slug": obj.slug} if obj is not None else {}
        return absolute(reverse(self.url_name, kwargs=kwargs))

    feed_guid = feed_url  # Atom's feed id: the feed's own address, distinct from the page's

    def author_name(self, obj):
        # Atom requires an author on every entry; entries without a byline inherit the publication.
        return settings.SITE_NAME

    # The items.

    def item_title(self, item):
        return xml_text(item.title)  # plain text; ArticleRssFeed escapes it once more for RSS readers

    def item_link(self, item):
        return absolute(item.get_absolute_url())

    def item_guid(self, item):
        return self.item_link(item)

    item_guid_is_permalink = True

    def item_description(self, item):
        return escape(xml_text(item.description))  # RSS descriptions are read as HTML

    def item_pubdate(self, item):
        return item.published_at

    def item_updateddate(self, item):
        return item.modified_at

    def item_categories(self, item):
        return [xml_text(tag.name) for tag in item.tags.all()]

    def item_enclosure_url(self, item):
        return absolute(item.hero_social_url) if item.hero_social_url else None

    # The byte size is not stored and asking the storage would cost a request per item; the RSS Best
    # Practices Profile says to use 0 when the size cannot be determined.
    item_enclosure_length = "0"
    item_enclosure_mime_type = "image/jpeg"

    def item_extra_kwargs(self, item):
        return {
            "content": for_feed_readers(item.body_html, self.item_link(item)),
            "authors": [
                (xml_text(author.name), absolute(author.get_absolute_url())) for author in item.authors.all()
            ],
        }


class LatestAtomFeed(LatestFeed):
    feed_type = ArticleAtomFeed
    url_name = "articles:feed-atom"


class SubjectFeed(LatestFeed):
    """The newest published articles of one section, author or tag, named by the slug in the URL."""

    subject_model = None
    summary_format = ""

    def get_object(self, request, slug):
        return get_object_or_404(self.subject_model, slug=slug)

    def articles(self, obj):
        return super().articles(obj).about(obj)

    def show_listing(self, obj):
        cachekeys.show_subject(obj)

    def title(self, obj):
        return f"{settings.SITE_NAME}: {xml_text(obj.name)}"

    def link(self, obj):
        return absolute(obj.get_absolute_url())

    def description(self, obj):
        return self.summary_format.format(name=xml_text(obj.name), site=settings.SITE_NAME)

    subtitle = description


class SectionFeed(SubjectFeed):
    subject_model, url_name = Section, "articles:section-feed"
    summary_format = "The latest {name} news from {site}."


class SectionAtomFeed(SectionFeed):
    feed_type, url_name = ArticleAtomFeed, "articles:section-feed-atom"


class AuthorFeed(SubjectFeed):
    subject_model, url_name = Author, "articles:author-feed"
    summary_format = "The latest articles by {name} for {site}."


class AuthorAtomFeed(AuthorFeed):
    feed_type, url_name = ArticleAtomFeed, "articles:author-feed-atom"


class TagMoved(Exception):
    """Raised from get_object when the slug is the old address of a tag; carries the tag."""

    def __init__(self, tag):
        super().__init__(tag.slug)
        self.tag = tag


class TagFeed(SubjectFeed):
    subject_model, url_name = Tag, "articles:tag-feed"
    summary_format = "The latest articles about {name} from {site}."

    def __call__(self, request, *args, **kwargs):
        # One Feed instance serves every request: the moved tag travels in the exception, not on self.
        try:
            return super().__call__(request, *args, **kwargs)
        except TagMoved as moved:
            # Feed readers update a subscription on a permanent redirect.
            return moved_permanently(request, reverse(self.url_name, kwargs={"slug": moved.tag.slug}))

    def get_object(self, request, slug):
        tag, redirected = resolve_tag_slug(slug)
        if redirected:
            raise TagMoved(tag)
        return tag


class TagAtomFeed(TagFeed):
    feed_type, url_name = ArticleAtomFeed, "articles:tag-feed-atom"
