"""Hostile third-party input (tests/corpora, see its README) through every public input of the site.

The inputs: the search box (most corpus strings), listing ``?page=`` numbers, ``?preview=`` tokens, the
follow form (email, frequency, tag address), the signed confirm/manage/unsubscribe addresses, and the
manage and confirm forms. What is checked: every page they answer with (0 server errors, 0 unsafe outputs,
judged by tests/support/hostile_checker.py), the admin pages that show a hostile address again, and the
emails sent.

Every test loops over its inputs and reports each failing one (address, field, input, and the traceback or
the unsafe fragment) rather than stopping at the first.
"""

import re

import html5lib
import pytest
from django import forms
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from articles import preview
from articles.following import tokens
from articles.following.addresses import is_mailable, normalise_email
from articles.models import Article, Follow, FollowRequest, Subscriber
from tests.factories import TagFactory
from tests.support.hostile_corpora import per_file
from tests.support.hostile_requests import in_path, ip, path_of

pytestmark = pytest.mark.usefixtures("quiet_request_logs")

# How many strings of each corpus file each input takes, spread evenly over the file (see per_file): the
# whole file when it is shorter. The search box, the cheapest input, takes the most; each request costs
# 10-15 ms.
SEARCH_SAMPLE = 120  # 1,936 strings: the whole of 21 of the 31 files
PAGE_SAMPLE = 8  # ?page= on the listings, ?p= on a sitemap
TOKEN_SAMPLE = 8  # ?preview= and the signed subscriber addresses
FOLLOW_SAMPLE = 15  # the follow form
ADDRESS_SAMPLE = 4  # a tag's address (tag page and follow form)
FORM_SAMPLE = 4  # the manage and confirm forms
VALID_ADDRESS_LIMIT = 30  # hostile but valid addresses followed all the way


@pytest.mark.timeout(240)
def test_search_box(searchable, no_page_cache, visitor, audit):
    values = per_file(SEARCH_SAMPLE)
    for name, value in values:
        response = visitor.get("/search/", {"q": value})
        # NUL in an address is a 404 anywhere (conclave.middleware.UnstorableInputMiddleware).
        audit.response(
            response, f"GET /search/?q= ({name})", value, statuses={404 if "\x00" in value else 200}
        )
    audit.assert_clean(minimum_responses=len(values))


def test_listing_page_numbers(searchable, no_page_cache, visitor, audit):
    live = searchable[3]
    month = timezone.localtime(live[0].published_at)
    listings = [
        ("/", {}, "page"),
        ("/sections/chips/", {}, "page"),
        ("/authors/ada-reporter/", {}, "page"),
        ("/tags/semiconductors/", {}, "page"),
        ("/tags/", {}, "page"),
        (f"/archive/{month:%Y}/{month:%m}/", {}, "page"),
        ("/search/", {"q": "story"}, "page"),
        ("/sitemap-articles.xml", {}, "p"),
    ]
    values = per_file(PAGE_SAMPLE)
    for i, (name, value) in enumerate(values):
        path, query, param = listings[i % len(listings)]
        response = visitor.get(path, {**query, param: value})
        audit.response(response, f"GET {path}?{param}= ({name})", value, statuses={200, 404})
    audit.assert_clean(minimum_responses=len(values))


def test_preview_tokens(searchable, no_page_cache, visitor, audit):
    draft = Article.objects.get(title="Draft story")
    live = searchable[3][0]
    genuine = preview.make_token(draft)
    values = per_file(TOKEN_SAMPLE)
    for i, (name, value) in enumerate(values):
        article = (draft, live)[i % 2]
        token = value if i % 4 < 2 else genuine + value  # alone, and after a genuine token
        url = article.get_absolute_url()
        response = visitor.get(url, {"preview": token})
        audit.response(response, f"GET {url}?preview= ({name})", token, statuses={200, 404, 410})
        if article is draft and token != genuine and response.status_code == 200:
            audit.fail(f"GET {url}?preview= ({name})", token, "a forged preview token showed the draft")
    audit.assert_clean(minimum_responses=len(values))


def is_valid_address(value):
    try:
        forms.EmailField(max_length=254).clean(value)
    except ValidationError:
        return False
    return True


def test_follow_form_fields(searchable, no_page_cache, visitor, audit):
    """Every field of the follow form at once: the email field (shown again on the form) and the frequency."""
    values = per_file(FOLLOW_SAMPLE)
    for i, (name, value) in enumerate(values):
        data = {"email": value, "frequency": value}
        response = visitor.post("/tags/semiconductors/follow/", data, REMOTE_ADDR=ip(i))
        where = f"POST /tags/semiconductors/follow/ email=, frequency= ({name})"
        audit.response(response, where, value, statuses={200, 400, 429})
    audit.emails(mail.outbox, "follow form")
    # Nothing is recorded for an address the form refuses.
    valid = {normalise_email(value) for _, value in values if is_valid_address(value)}
    stored = set(Subscriber.objects.values_list("email", flat=True))
    for email in stored - valid:
        audit.fail(
            "POST /tags/semiconductors/follow/", email, "a subscriber was stored for a refused address"
        )
    audit.assert_clean(minimum_responses=len(values))


def test_follow_and_tag_addresses(searchable, no_page_cache, visitor, audit):
    values = per_file(ADDRESS_SAMPLE)
    for i, (name, value) in enumerate(values):
        segment = in_path(value)
        response = visitor.get(f"/tags/{segment}/")
        audit.response(response, f"GET /tags/<slug>/ ({name})", value)
        data = {"email": f"reader{i}@example.com"}
        response = visitor.post(f"/tags/{segment}/follow/", data, REMOTE_ADDR=ip(i))
        audit.response(response, f"POST /tags/<slug>/follow/ ({name})", value)
    assert not Subscriber.objects.exists()
    audit.assert_clean(minimum_responses=2 * len(values))


MALFORMED_ADDRESSES = [
    "",
    "   ",
    "reader",
    "reader@",
    "@example.com",
    "reader@@example.com",
    "reader@example..com",
    "reader example@example.com",
    "reader@exa mple.com",
    "reader@-example.com",
    "<script>alert(1)</script>@example.com",
    "reader@example.com<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    '"unclosed@example.com',
    "reader@example.com\r\nBcc: victim@example.com",
    "reader@example.com,other@example.com",
    "javascript:alert(1)//@example.com",
    "x" * 300 + "@example.com",
]
CLEAR_MESSAGES = ("Enter a valid email address.", "This field is required.", "Ensure this value has at most")


def test_a_malformed_email_gets_a_clear_error_and_creates_nothing(tag_page_ready, visitor, audit):
    problems = []
    for i, address in enumerate(MALFORMED_ADDRESSES):
        response = visitor.post(
            "/tags/semiconductors/follow/", {"email": address, "frequency": "immediate"}, REMOTE_ADDR=ip(i)
        )
        audit.response(response, "POST /tags/semiconductors/follow/ email=", address, statuses={400})
        doc = html5lib.parse(response.content, namespaceHTMLElements=False)
        error = doc.find(".//span[@class='follow-form__error']")
        message = " ".join("".join(error.itertext()).split()) if error is not None else ""
        field = doc.find(".//input[@name='email']")
        alert = doc.find(".//*[@role='alert']")
        if not any(clear in message for clear in CLEAR_MESSAGES):
            problems.append(f"{address!r}: error message {message!r}")
        if field is None or field.get("aria-invalid") != "true":
            problems.append(f"{address!r}: the email field is not marked invalid")
        if alert is None or "check the form" not in "".join(alert.itertext()):
            problems.append(f"{address!r}: no alert above the form")
    assert not problems, "\n".join(problems)
    assert not Subscriber.objects.exists() and not Follow.objects.exists()
    assert mail.outbox == []
    audit.assert_clean(minimum_responses=len(MALFORMED_ADDRESSES))


@pytest.fixture
def tag_page_ready(db, no_page_cache):
    return TagFactory(name="Semiconductors", slug="semiconductors", show_early=True)  # no story yet


def quoted_address(value):
    """value as the quoted local part of an address Django accepts ("<script>…"@example.com), or None."""
    address = f'"{value}"@example.com'
    return address if len(address) <= 254 and is_valid_address(address) else None


def test_hostile_but_valid_addresses_all_the_way(searchable, no_page_cache, visitor, editor_browser, audit):
    """Quoted local parts are valid addresses: stored, mailed, and shown (masked) on the subscriber pages;
    those no mail header can carry as written (control or format characters) are refused on the form."""
    addresses = [(name, v, a) for name, v in per_file(FOLLOW_SAMPLE) if (a := quoted_address(v))]
    addresses = addresses[:VALID_ADDRESS_LIMIT]
    assert len(addresses) > 20
    for i, (name, value, address) in enumerate(addresses):
        where = f"hostile address ({name})"
        sent_before = len(mail.outbox)
        mailable = is_mailable(normalise_email(address))
        response = visitor.post(
            "/tags/semiconductors/follow/", {"email": address, "frequency": "daily"}, REMOTE_ADDR=ip(i)
        )
        where_posted = f"POST /tags/semiconductors/follow/ [{where}]"
        audit.response(response, where_posted, address, statuses={200} if mailable else {400})
        audit.emails(mail.outbox[sent_before:], where)
        if response.status_code != 200 or len(mail.outbox) == sent_before:
            continue  # refused, which the status check above has reported
        confirm = re.search(r"https?://[^/\s]+(/follow/confirm/[^/\s]+/)", mail.outbox[-1].body).group(1)
        for method, path, data in [
            ("GET", confirm, None),
            ("POST", confirm, {"frequency": value}),
            ("POST", confirm, {"frequency": "weekly"}),
        ]:
            response = visitor.get(path, data) if method == "GET" else visitor.post(path, data)
            audit.response(response, f"{method} confirm page [{where}]", value)
        manage = path_of(tokens.follow_url(Subscriber.objects.get(email=normalise_email(address)), "manage"))
        for method, path, data in [
            ("GET", manage, {"add": value}),
            ("POST", manage, {"frequency": value, "add": value}),
        ]:
            response = visitor.get(path, data) if method == "GET" else visitor.post(path, data)
            audit.response(response, f"{method} manage page [{where}]", value)
    response = editor_browser.get(reverse("admin:articles_subscriber_changelist"))
    audit.response(response, "GET admin subscriber list", None, mode="admin", statuses={200})
    person = Subscriber.objects.order_by("pk").first()
    response = editor_browser.get(reverse("admin:articles_subscriber_change", args=[person.pk]))
    audit.response(response, "GET admin subscriber page", person.email, mode="admin", statuses={200})
    audit.assert_clean(minimum_responses=len(addresses))


def test_signed_link_addresses(searchable, no_page_cache, visitor, audit):
    tag = searchable[2]
    person = Subscriber.objects.create(email="reader@example.com", confirmed_at=timezone.now())
    Follow.objects.create(subscriber=person, tag=tag)
    purposes = ("confirm", *tokens.LINK_PURPOSES)
    genuine = {purpose: tokens.make_token(person, purpose) for purpose in tokens.LINK_PURPOSES}
    genuine["confirm"] = tokens.new_request(tag, "new@example.com", "daily")[1]
    values = per_file(TOKEN_SAMPLE)
    for i, (name, value) in enumerate(values):
        purpose = purposes[i % 3]
        token = in_path(value) if i % 6 < 3 or not value else genuine[purpose] + in_path(value)
        method = ("GET", "POST")[i % 2]
        path = f"/follow/{purpose}/{token}/"
        response = visitor.get(path) if method == "GET" else visitor.post(path, {"frequency": "daily"})
        audit.response(response, f"{method} /follow/{purpose}/<token>/ ({name})", token, statuses={400, 404})
    assert Subscriber.objects.filter(pk=person.pk, follows__tag=tag).exists(), "a forged link acted"
    audit.assert_clean(minimum_responses=len(values))


def test_manage_and_confirm_forms(searchable, no_page_cache, visitor, audit):
    tag = searchable[2]
    person = Subscriber.objects.create(email="reader@example.com", confirmed_at=timezone.now())
    Follow.objects.create(subscriber=person, tag=tag)
    _, token = tokens.new_request(tag, "new@example.com", "daily")
    manage = path_of(tokens.follow_url(person, "manage"))
    confirm = path_of(tokens.confirm_url(token))
    values = per_file(FORM_SAMPLE)
    for i, (name, value) in enumerate(values):
        field = ("frequency", "unfollow", "add")[i % 3]
        data = {"frequency": "daily", field: value}
        response = visitor.post(manage, data)
        audit.response(response, f"POST /follow/manage/ {field}= ({name})", value, statuses={302, 400})
        response = visitor.get(manage, {"add": value})
        status = 404 if "\x00" in value else 200
        audit.response(response, f"GET /follow/manage/?add= ({name})", value, statuses={status})
        response = visitor.post(confirm, {"frequency": value})
        audit.response(response, f"POST /follow/confirm/ frequency= ({name})", value, statuses={400})
    assert not Subscriber.objects.filter(email="new@example.com").exists()
    assert not FollowRequest.objects.filter(confirmed_at__isnull=False).exists()
    assert Subscriber.objects.filter(pk=person.pk).exists()
    audit.assert_clean(minimum_responses=3 * len(values))
