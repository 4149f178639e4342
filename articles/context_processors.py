from django.conf import settings
from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from articles.models import Article, Section
from conclave import pagecache

ARCHIVE_LINK_CACHE_SECONDS = 600


def newest_archive_url():
    """The archive page of the newest story's month; cached, since every footer links to it.

    Kept per content generation and not past the next scheduled story, like the pages themselves.
    """
    return pagecache.remember("footer-archive-url", _newest_archive_url, ARCHIVE_LINK_CACHE_SECONDS)


def _newest_archive_url():
    newest = Article.objects.published().order_by("-published_at").values_list("published_at", flat=True)
    month = newest.first()
    return reverse("articles:archive-month", args=[f"{month:%Y}", f"{month:%m}"]) if month else ""


def site(request):
    return {
        "site_name": settings.SITE_NAME,
        "site_url": settings.SITE_URL,
        # Lazy: evaluated once, by the header's navigation, only on pages that render it.
        "nav_sections": Section.objects.all(),
        "site_feed_urls": (reverse("articles:feed"), reverse("articles:feed-atom")),
        "archive_url": SimpleLazyObject(newest_archive_url),
    }
