from django.conf import settings
from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from articles import cachekeys
from articles.models import Section
from conclave import pagecache

NAV_CACHE_SECONDS = 3600


def newest_archive_url():
    """The archive page of the newest story's month, which every footer links to."""
    cachekeys.show_footer()
    month = pagecache.site_timeline().newest_published
    return reverse("articles:archive-month", args=[f"{month:%Y}", f"{month:%m}"]) if month else ""


def navigation_sections():
    """The header's sections. No story changes them, so they are kept across publishes, until a section
    changes: a publish does not cost every page one more query."""
    return pagecache.remember(
        "nav-sections",
        lambda: list(Section.objects.all()),
        NAV_CACHE_SECONDS,
        keys=[cachekeys.NAV],
        exact=True,
    )


def site(request):
    return {
        "site_name": settings.SITE_NAME,
        "site_url": settings.SITE_URL,
        # Lazy: evaluated once, only on pages that render them.
        "nav_sections": SimpleLazyObject(navigation_sections),
        "site_feed_urls": (reverse("articles:feed"), reverse("articles:feed-atom")),
        "archive_url": SimpleLazyObject(newest_archive_url),
    }
