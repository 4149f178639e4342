"""A bare Django, the floor of bench/instructions.py and bench/hit_floor.py: settings, URLconf, one view.

The least a Django answer costs: SecurityMiddleware and CommonMiddleware, the URL resolver and a view
returning fixed bytes the size of an article page. No app, database, template, cache or session.

    DJANGO_SETTINGS_MODULE=bench.floor
"""

from django.http import HttpResponse
from django.urls import path

DEBUG = False
SECRET_KEY = "bench-floor-signs-nothing"  # noqa: S105 -- nothing here signs or checks anything
ALLOWED_HOSTS = ["127.0.0.1"]
ROOT_URLCONF = "bench.floor"
INSTALLED_APPS = []
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
USE_TZ = True

BODY = b"<!doctype html>" + b"x" * 59_985  # bench/urls.py's floor: the size of an article page


def floor(request):
    return HttpResponse(BODY, content_type="text/html; charset=utf-8")


urlpatterns = [path("floor/", floor)]
