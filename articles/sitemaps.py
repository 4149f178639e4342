"""Discovery for crawlers: the sitemap index and its sitemaps, the Google News sitemap and robots.txt.

As in the feeds, every URL is built from settings.SITE_URL: Django's sitemap views would take the scheme
and host from the request, so the index is our own and each sitemap ignores the site it is handed.
"""

import datetime

from django.conf import settings
from django.contrib.sitemaps import Sitemap
from django.contrib.sitemaps import views as sitemap_views
from django.db.models import Max, Prefetch, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_safe

from articles import cachekeys
from articles.feeds import xml_text
from articles.links import absolute
from articles.models import Article, Author, Image, Section, Tag

NEWS_WINDOW = datetime.timedelta(hours=48)  # Google News reads articles of the last two days only
NEWS_LIMIT = 1000  # and at most this many per news sitemap


def _w3c(moment):
    return moment.replace(microsecond=0) if moment else moment


class SiteSitemap(Sitemap):
    def get_urls(self, page=1, site=None, protocol=None):
        # _urls writes "<protocol>://<domain><path>": split SITE_URL so that this equals SITE_URL + path.
        scheme, rest = settings.SITE_URL.split("://", 1)
        return self._urls(page, scheme, rest)


class ArticleSitemap(SiteSitemap):
    limit = 5000  # a page of articles with their images stays a few MB

    def items(self):
        # Oldest first, so that new articles land on the last page and earlier pages stay unchanged.
        return (
            Article.objects.published()
            .only("slug", "published_at", "revised_at", "hero__file", "hero__renditions")
            .select_related("hero")
            .prefetch_related(Prefetch("figures", queryset=Image.objects.only("file", "renditions")))
            .order_by("published_at", "id")
        )

    def lastmod(self, article):
        return _w3c(article.modified_at)

    def get_latest_lastmod(self):
        latest = Article.objects.published().aggregate(latest=Max(Coalesce("revised_at", "published_at")))
        return _w3c(latest["latest"])

    def _urls(self, page, protocol, domain):
        urls = super()._urls(page, protocol, domain)
        for url in urls:
            article = url["item"]
            # Google's image sitemap: the largest JPEG rendition of the hero, then of each figure.
            pictures = [article.hero, *article.figures.all()] if article.hero else article.figures.all()
            found = dict.fromkeys(image.largest_url for image in pictures if image.largest_url)
            url["images"] = [absolute(image) for image in found]
        return urls


class ListingSitemap(SiteSitemap):
    """Sections, authors or tags with at least one published article; lastmod is their newest one's."""

    model = None

    def items(self):
        newest = (
            Article.objects.published()
            .about_each(self.model)
            .order_by("-published_at")
            .values("published_at")[:1]
        )
        return (
            self.model.objects.only("slug")
            .annotate(newest_article_at=Subquery(newest))
            .filter(newest_article_at__isnull=False)
            .order_by("slug")
        )

    def lastmod(self, item):
        return _w3c(item.newest_article_at)

    def get_latest_lastmod(self):
        return _w3c(self.items().aggregate(latest=Max("newest_article_at"))["latest"])


class SectionSitemap(ListingSitemap):
    model = Section


class AuthorSitemap(ListingSitemap):
    model = Author


class TagSitemap(ListingSitemap):
    model = Tag


SITEMAPS = {
    "articles": ArticleSitemap,
    "sections": SectionSitemap,
    "tags": TagSitemap,
    "authors": AuthorSitemap,
}


@require_safe
@sitemap_views.x_robots_tag
def sitemap_index(request):
    """/sitemap.xml: one entry per sitemap page, like Django's index view but with SITE_URL addresses."""
    cachekeys.show_listing(cachekeys.EVERY_STORY, cachekeys.SITEMAP)
    entries = []
    for name, sitemap_class in SITEMAPS.items():
        sitemap = sitemap_class()
        location = absolute(reverse("sitemap-section", kwargs={"section": name}))
        lastmod = sitemap.get_latest_lastmod()
        entries.append(sitemap_views.SitemapIndexItem(location, lastmod))
        for page in range(2, sitemap.paginator.num_pages + 1):
            entries.append(sitemap_views.SitemapIndexItem(f"{location}?p={page}", lastmod))
    return TemplateResponse(
        request, "sitemap_index.xml", {"sitemaps": entries}, content_type="application/xml"
    )


@require_safe
def sitemap_section(request, section):
    cachekeys.show_listing(cachekeys.EVERY_STORY, cachekeys.SITEMAP)
    return sitemap_views.sitemap(request, SITEMAPS, section=section, template_name="sitemaps/sitemap.xml")


@require_safe
@sitemap_views.x_robots_tag
def news_sitemap(request):
    """/news-sitemap.xml in the Google News format: published articles of the last 48 hours."""
    cachekeys.show_listing(cachekeys.EVERY_STORY, cachekeys.SITEMAP)
    now = timezone.now()
    articles = list(
        Article.objects.published()
        .filter(published_at__gte=now - NEWS_WINDOW)
        .only("slug", "title", "published_at")
        .order_by("-published_at", "-id")[:NEWS_LIMIT]
    )
    entries = [
        {
            "location": absolute(article.get_absolute_url()),
            "title": xml_text(article.title),
            "published": _w3c(article.published_at).isoformat(),
        }
        for article in articles
    ]
    context = {
        "entries": entries,
        "publication_name": settings.SITE_NAME,
        "language": settings.LANGUAGE_CODE.split("-")[0],  # Google News wants ISO 639: "en", not "en-gb"
    }
    response = TemplateResponse(request, "sitemaps/news_sitemap.xml", context, content_type="application/xml")
    if articles:
        # The oldest story leaves the window with no write at all: no cache may keep the page past that.
        leaves_in = articles[-1].published_at + NEWS_WINDOW - now
        patch_cache_control(response, max_age=max(0, int(leaves_in.total_seconds())))
    return response


@require_safe
def robots_txt(request):
    lines = [
        "User-agent: *",
        "Disallow: /admin/",  # written out, not reversed: a relocated admin must not be advertised here
        f"Disallow: {reverse('articles:search')}",
        "",
        f"Sitemap: {absolute(reverse('sitemap'))}",
        f"Sitemap: {absolute(reverse('news-sitemap'))}",
    ]
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; charset=utf-8")


urlpatterns = [
    path("sitemap.xml", sitemap_index, name="sitemap"),
    path("sitemap-<slug:section>.xml", sitemap_section, name="sitemap-section"),
    path("news-sitemap.xml", news_sitemap, name="news-sitemap"),
    path("robots.txt", robots_txt, name="robots"),
]
