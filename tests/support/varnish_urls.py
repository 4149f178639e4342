"""The site's URLs, plus test pages that answer as the app's cacheable pages will, for tests/test_varnish.py.

A test declares a page (``BACKEND.serve``): its surrogate keys, its Cache-Control, whether it sets a
cookie; the page then answers with them, ``Surrogate-Key`` and ``Cache-Tag`` included, and a body
naming its version, which ``BACKEND.edit`` moves on, as a correction does. Every request that reaches
the view is recorded, so a test sees what got past Varnish. The live server runs in a thread of the
test process: tests and views share ``BACKEND``.
"""

import hashlib
import threading
from collections import defaultdict
from dataclasses import dataclass

from django.http import Http404, HttpResponse
from django.urls import path
from django.utils.cache import patch_cache_control
from django.views.decorators.csrf import csrf_exempt

from conclave.urls import handler500  # noqa: F401
from conclave.urls import urlpatterns as site_urlpatterns

PREFIX = "/varnish-test/"
# What the app's page cache sends (conclave/pagecache.py, _make_page), with a lifetime long enough for
# any test: only a purge ends it.
SHAREABLE = {"public": True, "max_age": 60, "s_maxage": 3600, "stale_while_revalidate": 60}


@dataclass
class Page:
    keys: tuple[str, ...]
    cache_control: dict | str | None = None
    set_cookie: bool = False
    status: int = 200
    version: int = 1


@dataclass(frozen=True)
class Seen:
    """One request the view answered, with the headers that matter here."""

    method: str
    path: str  # with its query string
    cookie: str | None
    authorization: str | None
    forwarded_proto: str | None


class Backend:
    def __init__(self):
        self._lock = threading.Lock()
        self._pages = {}
        self._seen = defaultdict(list)

    def serve(self, name, keys=(), cache_control=SHAREABLE, set_cookie=False, status=200):
        """Declare the page ``name`` and return its path. ``cache_control``: directives for
        ``patch_cache_control``, a header value, or None for no Cache-Control at all."""
        with self._lock:
            self._pages[name] = Page(tuple(keys), cache_control, set_cookie, status)
        return f"{PREFIX}{name}/"

    def edit(self, name):
        """A correction: the page's body changes from the next time it is made."""
        with self._lock:
            self._pages[name].version += 1

    def seen(self, name):
        """Every request for ``name`` that reached the view, oldest first."""
        with self._lock:
            return list(self._seen[name])

    def hits(self, name):
        return len(self.seen(name))

    def answer(self, request, name):
        with self._lock:
            page = self._pages.get(name)
            if page is None:
                raise Http404(name)
            self._seen[name].append(
                Seen(
                    request.method,
                    request.get_full_path(),
                    request.headers.get("Cookie"),
                    request.headers.get("Authorization"),
                    request.headers.get("X-Forwarded-Proto"),
                )
            )
            version = page.version
        # Over a kilobyte of text, so that Django's gzip middleware compresses it, as it does pages.
        filler = "<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit.</p>\n" * 40
        body = f"<!doctype html>\n<title>{name}</title>\n<h1>{name}, version {version}</h1>\n{filler}"
        response = HttpResponse(body, status=page.status)
        if page.status in (301, 302):
            response["Location"] = f"{PREFIX}{name}/elsewhere/"
        response["ETag"] = f'W/"{hashlib.sha256(body.encode()).hexdigest()[:32]}"'
        if isinstance(page.cache_control, dict):
            patch_cache_control(response, **page.cache_control)
        elif page.cache_control is not None:
            response["Cache-Control"] = page.cache_control
        if page.keys:
            response["Surrogate-Key"] = " ".join(page.keys)
            response["Cache-Tag"] = ",".join(page.keys)
        if page.set_cookie:
            response.set_cookie("visited", "yes")
        return response


BACKEND = Backend()


@csrf_exempt  # POSTs here stand for the follow forms: what matters is which cookies arrive
def declared_page(request, name):
    return BACKEND.answer(request, name)


urlpatterns = [
    path(f"{PREFIX.strip('/')}/<slug:name>/", declared_page),
    *site_urlpatterns,
]
