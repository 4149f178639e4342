"""The site's URLs, plus uploads served by the app: in production the proxy or the bucket does that."""

from django.conf import settings
from django.urls import re_path
from django.views.static import serve

from conclave.urls import handler500  # noqa: F401
from conclave.urls import urlpatterns as site_urlpatterns

urlpatterns = [
    re_path(
        rf"^{settings.MEDIA_URL.lstrip('/')}(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}
    ),
    *site_urlpatterns,
]
