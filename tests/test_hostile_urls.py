"""The whole URL space with hostile path segments and query values, public pages and admin alike.

The routes come from the URLconf and the admin's registry themselves, so a page added later is fuzzed
without anyone remembering to list it. What is checked: 0 server errors and 0 unsafe outputs (judged by
tests/support/hostile_checker.py), nothing changed by a hostile request, and NUL anywhere is a 404.
"""

import re

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from articles.following import tokens
from articles.models import Follow, Subscriber
from tests.support.hostile_requests import ip, path_of

pytestmark = pytest.mark.usefixtures("quiet_request_logs")

# Path segments and query values as they arrive on the wire (already percent-encoded): NUL (PostgreSQL
# refuses it in any text), overlong and invalid UTF-8, encoded lone surrogates and code points past
# U+10FFFF, broken percent-escapes, controls, numbers past any integer column, and a very long one.
HOSTILE_SEGMENTS = [
    "%00",
    "a%00b",
    "%00%00%00",
    "%C0%80",
    "%E0%80%80",
    "%ED%A0%80",
    "%ED%BF%BF%ED%A0%80",
    "%F4%90%80%80",
    "%EF%BF%BE",
    "%FF",
    "%FE%FF%00",
    "%E9t%E9",
    "%",
    "%zz",
    "%2",
    "%%00",
    "%01%1B%7F",
    "%E2%80%AE%E2%80%8B",
    "99999999999999999999999999999",
    "-9223372036854775809",
    "9223372036854775808",
    "1e309",
    "0x7fffffff",
    "a" * 5000,
]
# Every parameter a page reads, and one it does not.
QUERY_NAMES = ["page", "q", "preview", "p", "add", "saved", "utm_source"]


def public_routes():
    """Every URL pattern outside the admin, as (route, its converters' names), from the URLconf itself: a
    page added later is fuzzed without anyone remembering to list it."""
    from django.urls import URLPattern, URLResolver, get_resolver

    admin_prefix = settings.ADMIN_URL

    def walk(patterns, prefix):
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                if str(entry.pattern) != admin_prefix:
                    yield from walk(entry.url_patterns, route)
            elif isinstance(entry, URLPattern):
                yield route

    return sorted(set(walk(get_resolver().url_patterns, "")))


ROUTE_PARAMETER_RE = re.compile(r"<(?:\w+:)?\w+>|\(\?P<\w+>[^)]*\)")


def fuzzed_paths(route, segment):
    """The route's address with each of its parameters, one at a time, replaced by ``segment`` (the
    others by a real value), and the whole route at once."""
    route = route.lstrip("^").rstrip("$")
    route = re.sub(
        r"\[0-9\]\{(\d)\}", lambda m: "2024"[: int(m.group(1))] if m.group(1) == "4" else "06", route
    )
    parameters = ROUTE_PARAMETER_RE.findall(route)
    real = {"<slug:section>": "articles"}
    if not parameters:
        return ["/" + route]
    paths = []
    for hostile in parameters:
        path = route
        for parameter in parameters:
            path = path.replace(parameter, segment if parameter == hostile else real.get(parameter, "x"), 1)
        paths.append("/" + path)
    return paths


def test_public_routes_are_all_found():
    """The walk above sees the pages it should (a broken walk would fuzz nothing)."""
    routes = public_routes()
    for expected in (
        "tags/<str:slug>/follow/",
        "follow/manage/<str:token>/",
        "news/<slug:slug>/",
        "robots.txt",
    ):
        assert expected in routes
    assert not any(route.startswith(settings.ADMIN_URL) for route in routes)


@pytest.mark.timeout(600)
def test_the_url_space_answers_hostile_segments_and_values_without_a_server_error(
    searchable, no_page_cache, visitor, audit
):
    """Every public route with each hostile segment in each of its parameters (GET, HEAD and POST), and
    every page with each hostile value in each query parameter a page reads, plus a hostile name."""
    tag = searchable[2]
    person = Subscriber.objects.create(email="reader@example.com", confirmed_at=timezone.now())
    Follow.objects.create(subscriber=person, tag=tag)
    signed_pages = [path_of(tokens.follow_url(person, purpose)) for purpose in ("manage", "unsubscribe")]
    pages = [
        "/",
        "/search/",
        "/tags/",
        f"/tags/{tag.slug}/",
        "/sitemap-articles.xml",
        "/feed/",
        *signed_pages,
    ]
    pages.append(searchable[3][0].get_absolute_url())
    requests = 0
    for route in public_routes():
        for segment in HOSTILE_SEGMENTS:
            for path in fuzzed_paths(route, segment):
                for method in ("get", "head", "post"):
                    response = getattr(visitor, method)(path, REMOTE_ADDR=ip(requests))
                    requests += 1
                    audit.response(response, f"{method.upper()} {path[:120]}", segment)
    for page in pages:
        for name in QUERY_NAMES:
            for segment in HOSTILE_SEGMENTS:
                response = visitor.get(f"{page}?{name}={segment}")
                requests += 1
                audit.response(response, f"GET {page}?{name}=", segment)
        for segment in HOSTILE_SEGMENTS[:8]:
            response = visitor.get(f"{page}?{segment}={segment}&page={segment}")
            requests += 1
            audit.response(response, f"GET {page}?<name>=", segment)
    assert Subscriber.objects.count() == 1 and Follow.objects.count() == 1, (
        "a hostile request changed something"
    )
    audit.assert_clean(minimum_responses=requests)


def admin_routes():
    from django.contrib import admin

    for model, model_admin in admin.site._registry.items():
        for pattern in model_admin.urls:
            route = str(pattern.pattern)
            if "<" in route:
                yield f"{settings.ADMIN_URL}{model._meta.app_label}/{model._meta.model_name}/{route}"


@pytest.mark.timeout(600)
def test_the_admin_answers_hostile_ids_and_values_without_a_server_error(searchable, editor_browser, audit):
    """Staff make typos too: every admin address that takes an id, and every changelist's search and
    filters, with each hostile segment."""
    from django.contrib import admin

    requests = 0
    for route in sorted(set(admin_routes())):
        for segment in HOSTILE_SEGMENTS:
            for path in fuzzed_paths(route, segment):
                response = editor_browser.get(path)
                requests += 1
                audit.response(response, f"GET {path[:120]}", segment, mode="admin")
    for model in admin.site._registry:
        changelist = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for segment in HOSTILE_SEGMENTS:
            for name in ("q", "o", "p", "status__exact", "section__id__exact", "tags__slug", "all"):
                response = editor_browser.get(f"{changelist}?{name}={segment}")
                requests += 1
                audit.response(response, f"GET {changelist}?{name}=", segment, mode="admin")
    audit.assert_clean(minimum_responses=requests)


def test_nul_anywhere_in_an_address_is_not_found(searchable, visitor):
    """The issue's examples (500s on PostgreSQL) and their kind: NUL in a path segment or in any query
    name or value is a plain 404 on every database, and changes nothing."""
    tag = searchable[2]
    person = Subscriber.objects.create(email="reader@example.com", confirmed_at=timezone.now())
    manage = path_of(tokens.follow_url(person, "manage"))
    for path in ["/tags/%00/", "/tags/%00/feed/", "/tags/%00/feed/atom/", "/news/a%00b/", "/sitemap-%00.xml"]:
        assert visitor.get(path).status_code == 404, path
    assert visitor.post("/tags/%00/follow/", {"email": "nul@example.com"}).status_code == 404
    for address in [f"{manage}?add=%00", f"{manage}?add={tag.slug}%00", f"/tags/{tag.slug}/?page=1%00"]:
        assert visitor.get(address).status_code == 404, address
    assert visitor.get("/search/?q=chips&%00=1").status_code == 404
    assert not Follow.objects.filter(subscriber=person).exists()
    assert Subscriber.objects.count() == 1
