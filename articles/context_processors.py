from django.conf import settings

from articles.models import Section


def site(request):
    return {
        "site_name": settings.SITE_NAME,
        "site_url": settings.SITE_URL,
        # Lazy: evaluated once, by the header's navigation, only on pages that render it.
        "nav_sections": Section.objects.all(),
    }
