"""URLs for the HTTP benchmarks (bench/settings.py): the site's own, plus /bench/floor/.

The floor is the cheapest page this stack can serve: the same middleware, URL resolver and WSGI
server as every page, one cache read (Redis, as for a cached page) and a fixed body the size of a
real page, with no template and no database. bench/http_pages.py compares every page's requests/s
with it.

The body is read once from the file named by BENCH_FLOOR_FILE (the benchmark writes the article
page's HTML there; without the variable, 60,000 bytes of filler), gzipped once, kept in the cache and
from then on served from it: gzipped to a client that accepts gzip, as the page cache sends its kept
pages, so that the floor puts the same bytes on the wire as a cached article page.
"""

import gzip
import os
from pathlib import Path

from django.core.cache import cache
from django.http import HttpResponse
from django.urls import path

from conclave.urls import urlpatterns as site_urlpatterns

FLOOR_KEY = "bench:floor"


def floor_bodies():
    name = os.environ.get("BENCH_FLOOR_FILE")
    html = Path(name).read_bytes() if name else b"<!doctype html>" + b"x" * 59_985
    return html, gzip.compress(html, compresslevel=6, mtime=0)


def floor(request):
    bodies = cache.get(FLOOR_KEY)
    if bodies is None:
        bodies = floor_bodies()
        cache.set(FLOOR_KEY, bodies, timeout=None)
    html, gzipped = bodies
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        response = HttpResponse(gzipped, content_type="text/html; charset=utf-8")
        response["Content-Encoding"] = "gzip"
    else:
        response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response["Vary"] = "Accept-Encoding"
    return response


urlpatterns = [path("bench/floor/", floor, name="bench-floor"), *site_urlpatterns]
