"""Links that leave the site: in feeds, sitemaps, emails, social cards and admin copy-buttons, a path is
not enough, so every one of them goes through `absolute()`."""

from django.conf import settings


def absolute(url):
    """An absolute URL on the public site (SITE_URL), for canonical links, feeds and social cards.

    Protocol-relative URLs (a CDN's //host/…) get SITE_URL's scheme.
    """
    if not url or url.startswith(("http://", "https://")):
        return url
    if url.startswith("//"):
        return settings.SITE_URL.split("//", 1)[0] + url
    return settings.SITE_URL + url
