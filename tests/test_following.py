"""Following by email (Step 3, and issue "Follow anything"): the follow boxes of tag, author, section and
story pages, double opt-in, rate limits, each follow's own frequency, managing, leaving, and the
subscriber's data (download, delete everything)."""

import datetime
import hashlib
import json
import logging
import re
import smtplib
import sys
import threading
import time
import unicodedata
import zlib
from email.errors import HeaderParseError
from urllib.parse import urlsplit

import html5lib
import pytest
from django.core import mail, signing
from django.core.mail.backends.locmem import EmailBackend
from django.core.signals import request_finished
from django.db import close_old_connections, connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from articles import preview
from articles.following import addresses, deferred, forms, limits, views
from articles.following.tokens import (
    confirm_url,
    find_request,
    follow_url,
    make_token,
    new_request,
    read_token,
)
from articles.models import (
    Article,
    Correction,
    Delivery,
    Follow,
    FollowRequest,
    NoteDelivery,
    Subscriber,
    Suppression,
)
from tests.factories import ArticleFactory, AuthorFactory, SectionFactory, TagFactory

LINK = re.compile(r"https://news\.example\.com(/follow/[a-z]+/[^/\s?]+/)(\?add=[\w:-]+&frequency=\w+)?")


@pytest.fixture
def tag(db):
    return TagFactory(name="Semiconductors", slug="semiconductors", show_early=True)


def follow(client, tag, email="reader@example.com", frequency="immediate", **extra):
    return client.post(f"/tags/{tag.slug}/follow/", {"email": email, "frequency": frequency}, **extra)


def subscriber(email="reader@example.com", confirmed=False, tags=(), frequency="immediate"):
    person = Subscriber.objects.create(email=email, confirmed_at=timezone.now() if confirmed else None)
    for tag in tags:
        Follow.objects.create(subscriber=person, tag=tag, frequency=frequency)
    return person


def frequencies(person):
    """What an address follows, as {"<kind>:<slug>": frequency}."""
    return {f"{follow.kind}:{follow.target.slug}": follow.frequency for follow in person.follows.all()}


def pending(tag, email="reader@example.com", frequency="immediate"):
    """A follow request waiting for its confirmation; returns the token of its link."""
    return new_request(tag, email, frequency)[1]


def path_of(url):
    return urlsplit(url).path


def link_in(message):
    """The one site link in a mail, as a path (plus its query), checked to be the same in both parts."""
    found = LINK.search(message.body)
    assert found, message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert found.group(0).replace("&", "&amp;") in html
    return found.group(1) + (found.group(2) or "")


def parse(response):
    return html5lib.parse(response.content, namespaceHTMLElements=False)


def text(element):
    return " ".join("".join(element.itertext()).split())


def csrf_token_in(response):
    field = parse(response).find(".//input[@name='csrfmiddlewaretoken']")
    return field.get("value") if field is not None else None


def assert_follow_page(response, status=200):
    """Every follow page: the expected status, one h1, noindex, and never stored by any cache."""
    assert response.status_code == status
    doc = parse(response)
    assert len(doc.findall(".//h1")) == 1
    assert doc.find(".//meta[@name='robots']").get("content") == "noindex"
    assert doc.find(".//link[@rel='canonical']") is None
    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]
    return doc


# The follow box, and CSRF on a page a shared cache may serve


def test_every_tag_page_has_a_follow_box(client, tag):
    doc = parse(client.get("/tags/semiconductors/"))
    form = doc.find(".//section[@id='follow']//form")
    assert (form.get("method"), form.get("action")) == ("post", "/tags/semiconductors/follow/")
    email = form.find(".//input[@name='email']")
    assert (email.get("type"), email.get("autocomplete")) == ("email", "email")
    assert email.get("required") is not None
    assert form.find(f".//label[@for='{email.get('id')}']") is not None
    radios = form.findall(".//input[@name='frequency']")
    assert [r.get("value") for r in radios] == list(Follow.Frequency.values)
    assert [r.get("value") for r in radios if r.get("checked") is not None] == ["immediate"]
    assert text(form.find(".//button")) == "Follow Semiconductors"


def test_tag_pages_carry_no_csrf_token_to_share(tag):
    first, second = Client().get("/tags/semiconductors/"), Client().get("/tags/semiconductors/")
    assert first.content == second.content
    assert b"csrfmiddlewaretoken" not in first.content
    assert "csrftoken" not in first.cookies


def test_a_post_without_a_csrf_token_acts_on_nothing_and_asks_again(tag):
    response = Client(enforce_csrf_checks=True).post(
        "/tags/semiconductors/follow/", {"email": "reader@example.com"}
    )
    doc = assert_follow_page(response)
    assert "Cookie" in response["Vary"]
    assert doc.find(".//input[@name='email']").get("value") == "reader@example.com"
    assert doc.find(".//input[@name='frequency'][@checked]").get("value") == "immediate"
    assert csrf_token_in(response)
    assert not Subscriber.objects.exists()
    assert mail.outbox == []


def test_each_visitor_gets_a_token_of_their_own(tag):
    one, two = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    token_one, token_two = csrf_token_in(follow(one, tag)), csrf_token_in(follow(two, tag))
    assert token_one and token_two and token_one != token_two
    # One visitor's token is no use to another.
    stolen = two.post(
        "/tags/semiconductors/follow/", {"email": "x@example.com", "csrfmiddlewaretoken": token_one}
    )
    assert "We could not check" in text(assert_follow_page(stolen))
    assert not Subscriber.objects.exists()
    assert mail.outbox == []


def test_a_valid_token_posted_from_another_site_is_refused(tag):
    visitor = Client(enforce_csrf_checks=True)
    token = csrf_token_in(follow(visitor, tag))
    data = {"email": "reader@example.com", "csrfmiddlewaretoken": token}
    response = visitor.post("/tags/semiconductors/follow/", data, headers={"origin": "https://evil.example"})
    assert "We could not check" in text(assert_follow_page(response))
    assert not Subscriber.objects.exists()
    assert mail.outbox == []


def test_the_whole_flow_with_csrf_checks_on(tag):
    visitor = Client(enforce_csrf_checks=True)
    token = csrf_token_in(follow(visitor, tag))
    response = visitor.post(
        "/tags/semiconductors/follow/",
        {"email": " Reader@Example.com ", "frequency": "weekly", "csrfmiddlewaretoken": token},
    )
    assert "Check your inbox" in text(assert_follow_page(response))
    request = FollowRequest.objects.get()
    assert (request.email, request.frequency, request.tag) == ("reader@example.com", "weekly", tag)
    assert not Subscriber.objects.exists()  # an address is a subscriber once it confirms

    # The emailed link is opened in a browser that has never seen the site.
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(link_in(mail.outbox[0]))
    confirm = browser.post(
        link_in(mail.outbox[0]), {"frequency": "weekly", "csrfmiddlewaretoken": csrf_token_in(page)}
    )
    assert "You are subscribed" in text(assert_follow_page(confirm))
    reader = Subscriber.objects.get()
    assert (reader.email, reader.is_confirmed) == ("reader@example.com", True)
    assert frequencies(reader) == {"tag:semiconductors": "weekly"}


# Double opt-in


def test_following_sends_one_confirmation_and_the_link_confirms(client, tag, caplog):
    caplog.set_level(logging.INFO, logger="articles.following")
    response = follow(client, tag, email="Reader@Example.COM", frequency="daily")
    assert "Check your inbox" in text(assert_follow_page(response))
    request = FollowRequest.objects.get()
    assert (request.email, request.tag, request.frequency) == ("reader@example.com", tag, "daily")
    assert not Subscriber.objects.exists()

    [message] = mail.outbox
    assert message.subject == "Confirm you want stories about Semiconductors"
    assert message.to == ["reader@example.com"]
    link = link_in(message)
    assert link.startswith("/follow/confirm/")
    assert find_request(link.split("/")[3]) == request

    # Opening the link (as a mail scanner would) confirms nothing: the button does.
    page = client.get(link)
    doc = assert_follow_page(page)
    assert "r•••@example.com" in text(doc)
    assert [text(a) for a in doc.findall(".//ul[@class='tags']//a")] == ["Semiconductors"]
    checked = doc.find(".//input[@name='frequency'][@checked]")
    assert checked.get("value") == "daily"
    assert not Subscriber.objects.exists()

    response = client.post(link, {"frequency": "daily"})
    assert "You are subscribed" in text(assert_follow_page(response))
    reader = Subscriber.objects.get()
    assert reader.is_confirmed
    assert frequencies(reader) == {"tag:semiconductors": "daily"}

    # Confirming again is harmless, and the address never reached the logs.
    confirmed_at = reader.confirmed_at
    assert client.post(link, {"frequency": "weekly"}).status_code == 200
    assert "You are subscribed" in text(assert_follow_page(client.get(link)))
    assert Subscriber.objects.get().confirmed_at == confirmed_at
    assert frequencies(reader) == {"tag:semiconductors": "daily"}
    assert len(mail.outbox) == 1
    assert caplog.records
    assert "reader@example.com" not in caplog.text.lower()


def test_the_answer_is_the_same_whoever_the_address_belongs_to(client, tag):
    other = TagFactory(name="Android", slug="android")
    pending(other, "pending@example.com")
    confident = subscriber("known@example.com", confirmed=True, tags=[other], frequency="weekly")

    answers = [
        follow(client, tag, email=email).content
        for email in ("new@example.com", "pending@example.com", "known@example.com")
    ]
    assert answers[0] == answers[1] == answers[2]

    # New and unconfirmed addresses get a confirmation; their follow waits for it.
    assert [m.subject for m in mail.outbox[:2]] == ["Confirm you want stories about Semiconductors"] * 2
    assert FollowRequest.objects.filter(email="pending@example.com", tag=tag).exists()
    assert not Subscriber.objects.filter(email="pending@example.com").exists()
    # A confirmed address only gets its settings link: nothing changes until its owner acts.
    known = mail.outbox[2]
    assert known.to == ["known@example.com"]
    assert known.subject == "Add Semiconductors to your Conclave TechMedia emails?"
    assert link_in(known).startswith("/follow/manage/")
    assert link_in(known).endswith("?add=tag:semiconductors&frequency=immediate")
    assert frequencies(confident) == {"tag:android": "weekly"}


def test_a_suppressed_address_gets_the_same_answer_and_no_mail(client, tag, caplog):
    from articles.models import Suppression

    Suppression.objects.create(email="bounced@example.com", reason="bounced", suppressed_at=timezone.now())
    Suppression.objects.create(email="counted@example.com", soft_bounces=1)  # still mailed
    answers = [
        follow(client, tag, email=email).content for email in ("new@example.com", "bounced@example.com")
    ]
    assert answers[0] == answers[1]
    follow(client, tag, email="counted@example.com")
    assert [message.to for message in mail.outbox] == [["new@example.com"], ["counted@example.com"]]
    assert "held back (suppressed)" in caplog.text
    assert FollowRequest.objects.filter(email="bounced@example.com").exists()  # recorded, as for anyone


def offered(doc):
    """What a settings page has ready to add: the chosen option and frequency."""
    option = doc.find(".//select[@name='add']//option[@selected]")
    frequency = doc.find(".//input[@name='add_frequency'][@checked]")
    return (option.get("value") or None) if option is not None else None, frequency.get("value")


def test_a_confirmed_reader_adds_the_tag_from_the_emailed_settings_link(client, tag):
    reader = subscriber(confirmed=True, tags=[TagFactory(name="Android", slug="android")], frequency="daily")
    follow(client, tag, frequency="weekly")
    link = link_in(mail.outbox[0])
    doc = assert_follow_page(client.get(link))
    assert offered(doc) == ("tag:semiconductors", "weekly")
    assert "To follow Semiconductors" in text(doc)
    response = client.post(path_of(link), {"add": "tag:semiconductors", "add_frequency": "weekly"})
    assert response.status_code == 302
    assert frequencies(reader) == {"tag:android": "daily", "tag:semiconductors": "weekly"}


def test_settings_links_mailed_before_other_kinds_still_offer_their_tag(client, tag):
    reader = subscriber(confirmed=True)
    link = path_of(follow_url(reader, "manage"))
    assert offered(assert_follow_page(client.get(link, {"add": "semiconductors"}))) == (
        "tag:semiconductors",
        "immediate",
    )
    # Nothing to offer: an unknown target, or one followed already.
    Follow.objects.create(subscriber=reader, tag=tag)
    for wanted in ("semiconductors", "tag:semiconductors", "author:nobody", "planet:mars", ":"):
        doc = assert_follow_page(client.get(link, {"add": wanted}))
        assert offered(doc) == (None, "immediate"), wanted
        assert "To follow" not in text(doc)


@pytest.mark.parametrize("email", ["", "not-an-address", "two@@example.com", "a" * 250 + "@example.com"])
def test_an_invalid_address_is_refused_with_a_clear_error(client, tag, email):
    response = follow(client, tag, email=email)
    doc = assert_follow_page(response, 400)
    field = doc.find(".//input[@name='email']")
    assert field.get("aria-invalid") == "true"
    assert text(doc.find(f".//*[@id='{field.get('aria-describedby')}']"))  # the error, tied to the field
    assert not Subscriber.objects.exists()
    assert mail.outbox == []


def test_unknown_tags_are_404_and_get_goes_back_to_the_tag(client, tag):
    assert follow(client, tag).status_code == 200
    assert client.post("/tags/no-such-tag/follow/", {"email": "reader@example.com"}).status_code == 404
    assert client.get("/tags/no-such-tag/follow/").status_code == 404
    response = client.get("/tags/semiconductors/follow/")
    assert (response.status_code, response["Location"]) == (302, "/tags/semiconductors/#follow")


# Rate limits


def test_one_address_gets_a_limited_number_of_mails(client, tag, monkeypatch):
    monkeypatch.setattr(limits, "ADDRESS_LIMIT", (2, 3600))
    answers = {
        follow(client, tag, email=email).content
        for email in ("a@example.com", "A@example.com ", "a@EXAMPLE.com")
    }
    assert len(answers) == 1  # the same neutral page, over the limit too
    assert len(mail.outbox) == 2
    follow(client, tag, email="b@example.com")
    assert len(mail.outbox) == 3  # other addresses are not held back


def test_one_ip_gets_a_limited_number_of_requests(client, tag, monkeypatch):
    monkeypatch.setattr(limits, "IP_LIMIT", (2, 600))
    for n in range(2):
        assert follow(client, tag, email=f"{n}@example.com", REMOTE_ADDR="10.0.0.1").status_code == 200
    response = follow(client, tag, email="late@example.com", REMOTE_ADDR="10.0.0.1")
    assert_follow_page(response, 429)
    assert response["Retry-After"] == "600"
    assert not Subscriber.objects.filter(email="late@example.com").exists()
    assert len(mail.outbox) == 2
    assert follow(client, tag, email="late@example.com", REMOTE_ADDR="10.0.0.2").status_code == 200


def test_behind_the_proxy_each_reader_has_a_limit_of_their_own(client, tag, monkeypatch, settings):
    """Every request arrives from the proxy's address: the reader is the last forwarded one."""
    settings.BEHIND_TLS_PROXY = True
    monkeypatch.setattr(limits, "IP_LIMIT", (2, 600))
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    for n in range(2):
        assert (
            follow(
                client, tag, email=f"{n}@example.com", HTTP_X_FORWARDED_FOR="192.0.2.1", **proxy
            ).status_code
            == 200
        )
    assert (
        follow(client, tag, email="x@example.com", HTTP_X_FORWARDED_FOR="192.0.2.1", **proxy).status_code
        == 429
    )
    assert (
        follow(client, tag, email="y@example.com", HTTP_X_FORWARDED_FOR="192.0.2.2", **proxy).status_code
        == 200
    )


def test_the_limits_expire(client, tag, monkeypatch):
    # Real time, not time_machine: Redis expires keys on its own clock.
    monkeypatch.setattr(limits, "ADDRESS_LIMIT", (1, 1))
    follow(client, tag)
    follow(client, tag)
    assert len(mail.outbox) == 1
    time.sleep(1.2)
    follow(client, tag)
    assert len(mail.outbox) == 2


class BrokenCache:
    def add(self, *args, **kwargs):
        raise ConnectionError("cache unavailable")

    incr = add


def test_a_broken_cache_lets_followers_through_and_is_logged(client, tag, monkeypatch, caplog):
    monkeypatch.setattr(limits, "cache", BrokenCache())
    assert follow(client, tag).status_code == 200
    assert len(mail.outbox) == 1
    assert "rate limit" in caplog.text


# Signed links that no longer work


def genuine_token(purpose, reader, tag):
    return pending(tag, reader.email) if purpose == "confirm" else make_token(reader, purpose)


def test_a_tampered_link_gets_a_friendly_page(client, tag):
    reader = subscriber(confirmed=True, tags=[tag])
    for purpose in ("confirm", "manage", "unsubscribe"):
        token = genuine_token(purpose, reader, tag)
        tampered = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
        for token in (tampered, "nonsense", "x" * 300):
            doc = assert_follow_page(client.get(f"/follow/{purpose}/{token}/"), 400)
            assert text(doc.find(".//h1")) == "This link is no longer valid"
            assert client.post(f"/follow/{purpose}/{token}/", {"frequency": "daily"}).status_code == 400
    assert Subscriber.objects.get().follows.count() == 1
    assert not FollowRequest.objects.filter(confirmed_at__isnull=False).exists()


def test_a_confirmation_link_expires_after_a_week(client, tag, time_machine):
    link = path_of(confirm_url(pending(tag)))
    time_machine.move_to(timezone.now() + datetime.timedelta(days=6, hours=23))
    assert_follow_page(client.get(link))
    time_machine.move_to(timezone.now() + datetime.timedelta(days=1, hours=2))
    assert_follow_page(client.get(link), 400)
    assert_follow_page(client.post(link, {"frequency": "daily"}), 400)
    assert not Subscriber.objects.exists()


@pytest.mark.parametrize(
    ("made_for", "used_on"), [("manage", "confirm"), ("confirm", "unsubscribe"), ("unsubscribe", "manage")]
)
def test_a_link_works_only_for_its_own_purpose(client, tag, made_for, used_on):
    reader = subscriber(confirmed=True, tags=[tag])
    url = f"/follow/{used_on}/{genuine_token(made_for, reader, tag)}/"
    assert_follow_page(client.get(url), 400)
    assert_follow_page(client.post(url, {"frequency": "daily"}), 400)
    assert frequencies(reader) == {"tag:semiconductors": "immediate"}
    assert not FollowRequest.objects.filter(confirmed_at__isnull=False).exists()


# Managing and leaving without an account


def test_the_settings_page_masks_the_address_and_saves_changes(client, tag):
    android = TagFactory(name="Android", slug="android")
    reader = subscriber(confirmed=True, tags=[tag, android])
    link = path_of(follow_url(reader, "manage"))
    response = client.get(link)
    doc = assert_follow_page(response)
    assert "r•••@example.com" in text(doc)
    assert b"reader@example.com" not in response.content
    boxes = doc.findall(".//input[@name='unfollow']")
    assert len(boxes) == 2 and not any(box.get("checked") is not None for box in boxes)
    labels = [text(label) for label in doc.iter("label") if label.find("input[@name='unfollow']") is not None]
    assert labels == ["Stop following Android", "Stop following Semiconductors"]

    semiconductors = reader.follows.get(tag=tag)
    data = {f"frequency-{semiconductors.pk}": "weekly", "unfollow": [reader.follows.get(tag=android).pk]}
    response = client.post(link, data)
    assert (response.status_code, response["Location"]) == (302, f"{link}?saved=1")
    assert "Your changes are saved." in text(assert_follow_page(client.get(response["Location"])))
    assert frequencies(reader) == {"tag:semiconductors": "weekly"}


def test_the_settings_form_refuses_nonsense_and_needs_a_csrf_token(client, tag):
    reader = subscriber(confirmed=True, tags=[tag])
    field = f"frequency-{reader.follows.get().pk}"
    link = path_of(follow_url(reader, "manage"))
    for nonsense in ({field: "hourly"}, {"unfollow": "12345"}, {"add_frequency": "hourly"}):
        assert_follow_page(client.post(link, nonsense), 400)
    assert Client(enforce_csrf_checks=True).post(link, {field: "weekly", "leave": "1"}).status_code == 403
    assert frequencies(reader) == {"tag:semiconductors": "immediate"}


def test_leaving_deletes_the_subscriber_and_everything_about_it(client, tag):
    reader = subscriber(confirmed=True, tags=[tag])
    Delivery.objects.create(subscriber=reader, article=ArticleFactory(tags=[tag]))
    link = path_of(follow_url(reader, "manage"))
    response = client.post(link, {"leave": "1"})
    assert "You are unsubscribed" in text(assert_follow_page(response))
    assert not Subscriber.objects.exists()
    assert not Follow.objects.exists()
    assert not Delivery.objects.exists()
    assert_follow_page(client.get(link), 400)


def test_one_click_unsubscribe_needs_no_cookie_and_is_harmless_twice(client, tag):
    reader = subscriber(confirmed=True, tags=[tag])
    link = path_of(follow_url(reader, "unsubscribe"))
    doc = assert_follow_page(client.get(link))
    assert "r•••@example.com" in text(doc)
    assert text(doc.find(".//form[@method='post']//button")) == "Unsubscribe"
    assert Subscriber.objects.exists()  # opening the page changes nothing

    # RFC 8058: the mail client POSTs on its own, with no cookie and no CSRF token.
    mail_client = Client(enforce_csrf_checks=True)
    for _ in range(2):
        response = mail_client.post(link, {"List-Unsubscribe": "One-Click"})
        assert "You are unsubscribed" in text(assert_follow_page(response))
    assert not Subscriber.objects.exists() and not Follow.objects.exists()
    assert "You are unsubscribed" in text(assert_follow_page(client.get(link)))


# Addresses no mail header can carry (issue 15, finding 2)

UNMAILABLE = [
    '"z\x0c<b>injected</b>"@evil.example',  # a form feed: a line break inside the To: header
    '"x\x0bBcc:evil@example.net"@example.com',  # the email package refused it: a 500, and a row left
    '"a\x01b"@example.com',
    '"a\x7fb"@example.com',
    "reader@exa\u200bmple.com",  # zero-width space (Cf): IDNA drops it, a second spelling of one mailbox
    "reader@exa\ufeffmple.com",
    "reader@ex\u2028ample.com",  # line separator (Zl)
    "reader@ex\u06aa.com",  # a domain IDNA cannot encode (its bidi rule): the email package refuses it
]


@pytest.mark.parametrize("email", UNMAILABLE)
def test_an_address_mail_cannot_carry_is_refused_with_a_clear_error(client, tag, email):
    response = follow(client, tag, email=email)
    doc = assert_follow_page(response, 400)
    field = doc.find(".//input[@name='email']")
    assert field.get("aria-invalid") == "true"
    error = text(doc.find(f".//*[@id='{field.get('aria-describedby')}']"))
    assert error.startswith("Enter a valid email address: mail cannot be sent to this one")
    assert not FollowRequest.objects.exists() and not Subscriber.objects.exists()
    assert mail.outbox == []


def test_every_control_format_and_separator_character_is_refused():
    """The whole class, not the examples: each character of Unicode categories Cc, Cf, Zl and Zp, in a
    quoted local part and in the domain, where Django's own check lets many of them through."""
    characters = [
        chr(point)
        for point in range(sys.maxunicode + 1)
        if unicodedata.category(chr(point)) in {"Cc", "Cf", "Zl", "Zp"}
    ]
    assert len(characters) > 200
    accepted = [
        address
        for char in characters
        for address in (f'"a{char}b"@example.com', f"reader@exa{char}mple.com")
        if forms.FollowForm({"email": address, "frequency": "daily"}).is_valid()
    ]
    assert accepted == []
    assert forms.FollowForm({"email": '"a#b"@example.com', "frequency": "daily"}).is_valid()


@pytest.mark.parametrize(
    "error",
    [
        HeaderParseError("header value appears to contain an embedded header"),
        ValueError("Invalid address"),
        smtplib.SMTPRecipientsRefused({"reader@example.com": (550, b"5.1.1 Mailbox unavailable")}),
        ConnectionRefusedError(111, "Connection refused"),
    ],
)
def test_a_mail_that_cannot_be_sent_gets_the_same_answer_and_is_logged(
    client, tag, monkeypatch, caplog, error
):
    def refuse(self, messages):
        raise error

    monkeypatch.setattr(EmailBackend, "send_messages", refuse)
    response = follow(client, tag)
    assert "Check your inbox" in text(assert_follow_page(response))
    assert mail.outbox == []
    assert (
        f"Follow tag semiconductors: mail to {addresses.address_hash('reader@example.com')} failed"
        in caplog.text
    )
    assert "reader@example.com" not in caplog.text


# Each confirmation link confirms its own request (finding 9)


def test_a_later_request_changes_nothing_an_earlier_one_asked(client, tag):
    android = TagFactory(name="Android", slug="android", show_early=True)
    follow(client, tag, frequency="weekly")  # the owner of the address
    follow(client, android, frequency="immediate")  # someone else, with the same address
    mine, theirs = (link_in(message) for message in mail.outbox)
    assert mine != theirs

    doc = assert_follow_page(client.get(mine))
    assert [text(a) for a in doc.findall(".//ul[@class='tags']//a")] == ["Semiconductors"]
    assert doc.find(".//input[@name='frequency'][@checked]").get("value") == "weekly"
    assert "You are subscribed" in text(assert_follow_page(client.post(mine, {"frequency": "weekly"})))
    reader = Subscriber.objects.get()
    assert frequencies(reader) == {"tag:semiconductors": "weekly"}

    # The other request waits for a click on its own link, and shows what it asked.
    doc = assert_follow_page(client.get(theirs))
    assert text(doc.find(".//h1")) == "Confirm your subscription"
    assert [text(a) for a in doc.findall(".//ul[@class='tags']//a")] == ["Android"]
    assert doc.find(".//input[@name='frequency'][@checked]").get("value") == "immediate"
    client.post(theirs, {"frequency": "immediate"})
    # Each follow keeps its own frequency: confirming the second changed nothing of the first.
    assert frequencies(reader) == {"tag:semiconductors": "weekly", "tag:android": "immediate"}


def test_confirming_takes_nothing_an_unconfirmed_row_from_before_had(client, tag):
    """Before follow requests, pending follows sat on an unconfirmed subscriber, where anyone could add
    some: confirming a request now keeps only what that request asked."""
    legacy = subscriber(tags=[TagFactory(name="Android", slug="android", show_early=True)])
    follow(client, tag, frequency="daily")
    client.post(link_in(mail.outbox[0]), {"frequency": "daily"})
    legacy.refresh_from_db()
    assert legacy.is_confirmed
    assert frequencies(legacy) == {"tag:semiconductors": "daily"}


# Links that name nobody (finding 11)


def decoded(token):
    """Whatever the parts of a token say, read as signed payloads are (base64 JSON, maybe compressed)."""
    found = []
    for part in token.split(":"):
        try:
            raw = signing.b64_decode(part.lstrip(".").encode())
            found.append(zlib.decompress(raw) if part.startswith(".") else raw)
        except (ValueError, zlib.error):
            continue
    return b" ".join(found)


def legacy_token(person, purpose):
    """A link's token as mailed before link keys: the subscriber's id and an address digest, signed."""
    digest = hashlib.sha256(person.email.encode()).hexdigest()[:16]
    return signing.dumps([person.pk, digest], salt=f"follow-{purpose}", compress=True)


def test_no_link_says_whom_it_is_for(client, tag):
    known = Subscriber.objects.create(pk=987654321, email="known@example.com", confirmed_at=timezone.now())
    follow(client, tag, email="new@example.com")  # a confirmation link
    follow(client, tag, email="known@example.com")  # a settings link
    tokens = [link_in(message).split("/")[3] for message in mail.outbox]
    tokens.append(make_token(known, "unsubscribe"))
    digests = [
        hashlib.sha256(email.encode()).hexdigest()[:16].encode()
        for email in ("new@example.com", "known@example.com")
    ]
    for token in tokens:
        content = decoded(token)
        assert b"987654321" not in content, token
        assert not any(digest in content for digest in digests), token


def test_a_confirmation_token_is_random_and_only_its_digest_is_kept(client, tag):
    follow(client, tag)
    token = link_in(mail.outbox[0]).split("/")[3]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)  # 32 random bytes
    request = FollowRequest.objects.get()
    assert request.token_digest == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(list(FollowRequest.objects.values()))
    # A copy of the database confirms nothing: the digest is no token.
    assert_follow_page(client.get(f"/follow/confirm/{request.token_digest}/"), 400)
    assert_follow_page(client.post(f"/follow/confirm/{request.token_digest}/", {"frequency": "daily"}), 400)
    assert not Subscriber.objects.exists()


def test_settings_and_unsubscribe_links_work_until_the_subscriber_leaves(client, tag, time_machine):
    reader = subscriber(confirmed=True, tags=[tag])
    assert read_token(make_token(reader, "manage"), "manage") == reader
    manage, unsubscribe = (path_of(follow_url(reader, purpose)) for purpose in ("manage", "unsubscribe"))
    time_machine.move_to(timezone.now() + datetime.timedelta(days=400))
    assert "r•••@example.com" in text(assert_follow_page(client.get(manage)))
    assert "r•••@example.com" in text(assert_follow_page(client.get(unsubscribe)))
    client.post(manage, {"leave": "1"})
    assert_follow_page(client.get(manage), 400)
    # The same address subscribed again has links of its own: the old ones stay dead.
    again = subscriber(confirmed=True, tags=[tag])
    assert_follow_page(client.get(manage), 400)
    assert read_token(manage.split("/")[3], "manage") is None
    assert read_token(make_token(again, "manage"), "manage") == again


def test_links_mailed_before_still_open_the_settings_and_unsubscribe_pages(client, tag):
    reader = subscriber(confirmed=True, tags=[tag])
    manage = f"/follow/manage/{legacy_token(reader, 'manage')}/"
    assert "r•••@example.com" in text(assert_follow_page(client.get(manage)))
    response = client.post(manage, {f"frequency-{reader.follows.get().pk}": "weekly"})
    assert (response.status_code, frequencies(reader)) == (302, {"tag:semiconductors": "weekly"})
    assert_follow_page(client.get(f"/follow/unsubscribe/{legacy_token(reader, 'manage')}/"), 400)

    unsubscribe = f"/follow/unsubscribe/{legacy_token(reader, 'unsubscribe')}/"
    for _ in range(2):
        response = Client(enforce_csrf_checks=True).post(unsubscribe, {"List-Unsubscribe": "One-Click"})
        assert "You are unsubscribed" in text(assert_follow_page(response))
    assert not Subscriber.objects.exists()


def test_a_confirmation_link_mailed_before_confirms_nothing(client, tag):
    """It confirmed whatever anyone had asked for the address meanwhile (finding 9)."""
    legacy = subscriber(tags=[tag])
    confirm = f"/follow/confirm/{legacy_token(legacy, 'confirm')}/"
    assert_follow_page(client.get(confirm), 400)
    assert_follow_page(client.post(confirm, {"frequency": "daily"}), 400)
    legacy.refresh_from_db()
    assert not legacy.is_confirmed


# The answer takes the same work whatever the address (finding 8)


class RecordingCache:
    """The cache, recording each call as (method, key without its hashed part)."""

    def __init__(self, cache):
        self.cache, self.calls = cache, []

    def __getattr__(self, name):
        method = getattr(self.cache, name)

        def record(key, *args, **kwargs):
            self.calls.append((name, key.rsplit(":", 1)[0]))
            return method(key, *args, **kwargs)

        return record


def shape(sql):
    """A statement with its values left out: strings (quoted, with '' inside) and numbers."""
    return re.sub(r"\b\d+(\.\d+)?\b", "?", re.sub(r"'(?:[^']|'')*'", "?", sql))


def close(response):
    """What a WSGI server does once the answer is sent; as Django's test client does it, leaving alone
    the database connection the test runs in."""
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


def answer(tag, email, n=0, **environ):
    """The follow view's answer to a POST, straight from the view: not yet closed, as a WSGI server has
    it once the view returns and before it sends it."""
    request = RequestFactory().post(
        f"/tags/{tag.slug}/follow/",
        {"email": email, "frequency": "daily"},
        REMOTE_ADDR=f"10.0.0.{n}",
        **environ,
    )
    request._dont_enforce_csrf_checks = True  # as Django's test client does for its requests
    return views.FollowView.as_view()(request, slug=tag.slug)


def test_the_answer_takes_the_same_work_whatever_the_address(tag, monkeypatch):
    subscriber("known@example.com", confirmed=True, tags=[tag])
    states = {
        "new": "new@example.com",
        "pending": "pending@example.com",
        "subscribed": "known@example.com",
        "over its limit": "limited@example.com",
    }
    # An address asked for once is pending; three times, over its limit. (The first page rendered also
    # reads the site's navigation into the cache, whoever it is for.)
    close(answer(tag, "pending@example.com", 99))
    for _ in range(limits.ADDRESS_LIMIT[0]):
        close(answer(tag, "limited@example.com", 99))
    mail.outbox.clear()
    work, mails, cache = {}, {}, limits.cache
    for n, (state, email) in enumerate(states.items()):
        recording = RecordingCache(cache)
        monkeypatch.setattr(limits, "cache", recording)
        sent = len(mail.outbox)
        with CaptureQueriesContext(connection) as queries:
            response = answer(tag, email, n)
        assert len(mail.outbox) == sent, f"{state}: mail sent before the answer went out"
        work[state] = (
            response.status_code,
            response.content,
            [shape(query["sql"]) for query in queries],
            recording.calls,
        )
        with CaptureQueriesContext(connection) as after:
            close(response)  # the answer is out: now the mail goes
        assert not after.captured_queries, f"{state}: the database used after the answer"
        mails[state] = [message.subject for message in mail.outbox[sent:]]

    assert work["new"] == work["pending"] == work["subscribed"] == work["over its limit"]
    status, _, statements, cache_calls = work["new"]
    assert status == 200
    # The tag, the request recorded, a subscriber and a suppression looked for; the IP's counter, then
    # the address's.
    assert [statement.split()[0] for statement in statements] == ["SELECT", "INSERT", "SELECT", "SELECT"]
    assert [call for call, _ in cache_calls] == ["add", "incr", "add", "incr"]
    assert mails == {
        "new": ["Confirm you want stories about Semiconductors"],
        "pending": ["Confirm you want stories about Semiconductors"],
        "subscribed": ["Add Semiconductors to your Conclave TechMedia emails?"],
        "over its limit": [],
    }


def test_under_a_threaded_server_the_mail_goes_from_a_thread_of_its_own(tag, monkeypatch, caplog):
    """gunicorn's gthread worker: the server's thread is free as soon as the answer is sent."""
    caplog.set_level(logging.INFO, logger="articles.following")
    monkeypatch.setattr(deferred, "MAIL_THREADS", threading.BoundedSemaphore(1))
    response = answer(tag, "reader@example.com", **{"wsgi.multithread": True})
    close(response)
    response.sender.join(10)
    assert not response.sender.is_alive()
    assert [message.subject for message in mail.outbox] == ["Confirm you want stories about Semiconductors"]
    assert "Follow tag semiconductors: mail sent to" in caplog.text
    assert deferred.MAIL_THREADS.acquire(blocking=False)  # the thread gave its place back

    # With every place taken, the next mail goes from the server's thread, still after the answer.
    response = answer(tag, "other@example.com", **{"wsgi.multithread": True})
    assert len(mail.outbox) == 1
    close(response)
    assert response.sender is None and len(mail.outbox) == 2


def test_a_settings_link_cannot_add_a_tag_that_has_no_page(client, tag):
    """A tag typed into a draft has no public page (finding 6): no manage page offers or adds it."""
    hidden = TagFactory(name="Free crypto giveaway", slug="free-crypto-giveaway")
    reader = subscriber(confirmed=True, tags=[tag])
    link = path_of(follow_url(reader, "manage"))
    page = client.get(link, {"add": hidden.slug})
    assert "Free crypto giveaway" not in text(assert_follow_page(page))
    assert_follow_page(client.post(link, {"frequency": "weekly", "add": hidden.slug}), 400)
    assert list(reader.follows.values_list("tag__slug", flat=True)) == [tag.slug]
    hidden.show_early = True  # an editor opens the topic on purpose: now it can be followed
    hidden.save()
    assert "Free crypto giveaway" in text(assert_follow_page(client.get(link, {"add": hidden.slug})))
    assert client.post(link, {"frequency": "weekly", "add": hidden.slug}).status_code == 302
    assert reader.follows.filter(tag=hidden).exists()


# Authors, sections and single stories (issue "Follow anything")


@pytest.fixture
def newsroom(tag):
    """A story by Ada Brooks in Chips, tagged Semiconductors: something of every kind to follow."""
    author = AuthorFactory(name="Ada Brooks", slug="ada-brooks")
    section = SectionFactory(name="Chips", slug="chips")
    story = ArticleFactory(
        title="Foundry opens in Ohio", slug="foundry-opens", section=section, authors=[author], tags=[tag]
    )
    return {"tag": tag, "author": author, "section": section, "article": story}


# The page of each kind, its follow address, the box's title and button, the first mail's subject.
KINDS = {
    "tag": (
        "/tags/semiconductors/",
        "Get Semiconductors stories by email",
        "Follow Semiconductors",
        "Confirm you want stories about Semiconductors",
    ),
    "author": (
        "/authors/ada-brooks/",
        "Get stories by Ada Brooks by email",
        "Follow Ada Brooks",
        "Confirm you want stories by Ada Brooks",
    ),
    "section": (
        "/sections/chips/",
        "Get Chips stories by email",
        "Follow Chips",
        "Confirm you want stories in Chips",
    ),
    "article": (
        "/news/foundry-opens/",
        "Follow this story",
        "Follow this story",
        "Confirm you want corrections and updates to “Foundry opens in Ohio”",
    ),
}


def follow_kind(client, kind, email="reader@example.com", frequency="immediate", **extra):
    return client.post(f"{KINDS[kind][0]}follow/", {"email": email, "frequency": frequency}, **extra)


@pytest.mark.parametrize("kind", KINDS)
def test_every_followable_page_has_a_follow_box_with_no_token(newsroom, kind):
    page, title, button, _ = KINDS[kind]
    first, second = Client().get(page), Client().get(page)
    assert first.status_code == 200
    assert first.content == second.content  # nothing of one visitor's: a shared cache may keep it
    assert b"csrfmiddlewaretoken" not in first.content and "csrftoken" not in first.cookies
    box = parse(first).find(".//section[@id='follow']")
    assert text(box.find(".//h2")) == title
    form = box.find(".//form")
    assert (form.get("method"), form.get("action")) == ("post", f"{page}follow/")
    assert form.find(".//input[@name='email']").get("required") is not None
    radios = form.findall(".//input[@name='frequency']")
    assert [r.get("value") for r in radios] == list(Follow.Frequency.values)
    assert text(form.find(".//button")) == button
    if kind == "article":
        assert "Get its corrections and updates by email." in text(box)


def test_a_draft_or_scheduled_story_has_no_follow_box_and_cannot_be_followed(client, newsroom):
    draft = ArticleFactory(title="Draft", slug="draft", status=Article.Status.DRAFT)
    scheduled = ArticleFactory(slug="later", published_at=timezone.now() + datetime.timedelta(hours=2))
    for story in (draft, scheduled):
        url = urlsplit(preview.preview_url(story))
        page = client.get(f"{url.path}?{url.query}")
        assert page.status_code == 200 and "Draft preview." in text(parse(page))
        assert parse(page).find(".//section[@id='follow']") is None
        response = client.post(f"/news/{story.slug}/follow/", {"email": "reader@example.com"})
        assert response.status_code == 404
        assert client.get(f"/news/{story.slug}/follow/").status_code == 404
    assert not FollowRequest.objects.exists() and mail.outbox == []


@pytest.mark.parametrize(
    "path", ["/authors/nobody/follow/", "/sections/nowhere/follow/", "/news/nothing/follow/"]
)
def test_unknown_targets_are_404(client, newsroom, path):
    assert client.post(path, {"email": "reader@example.com"}).status_code == 404
    assert client.get(path).status_code == 404
    assert not FollowRequest.objects.exists()


@pytest.mark.parametrize("kind", ["author", "section", "article"])
def test_get_of_a_follow_address_goes_back_to_the_box(client, newsroom, kind):
    response = client.get(f"{KINDS[kind][0]}follow/")
    assert (response.status_code, response["Location"]) == (302, f"{KINDS[kind][0]}#follow")


@pytest.mark.parametrize("kind", ["author", "section", "article"])
def test_a_post_without_a_csrf_token_changes_nothing_and_asks_again(newsroom, kind):
    visitor = Client(enforce_csrf_checks=True)
    response = follow_kind(visitor, kind, frequency="weekly")
    doc = assert_follow_page(response)
    assert "One more click" in text(doc)
    assert text(doc.find(".//h1")) == KINDS[kind][2]
    assert doc.find(".//form[@class='follow-form']").get("action") == f"{KINDS[kind][0]}follow/"
    assert doc.find(".//input[@name='frequency'][@checked]").get("value") == "weekly"
    assert not FollowRequest.objects.exists() and mail.outbox == []

    # The button on that page, with its token, acts.
    data = {
        "email": "reader@example.com",
        "frequency": "weekly",
        "csrfmiddlewaretoken": csrf_token_in(response),
    }
    assert "Check your inbox" in text(assert_follow_page(visitor.post(f"{KINDS[kind][0]}follow/", data)))
    request = FollowRequest.objects.get()
    assert (request.kind, request.target, request.frequency) == (kind, newsroom[kind], "weekly")


@pytest.mark.parametrize("kind", ["author", "section", "article"])
def test_the_answer_is_the_same_for_new_pending_and_subscribed_addresses(client, newsroom, kind):
    pending(newsroom["tag"], "pending@example.com")
    known = subscriber("known@example.com", confirmed=True, tags=[newsroom["tag"]], frequency="weekly")
    answers = {
        follow_kind(client, kind, email=email, frequency="daily").content
        for email in ("new@example.com", "pending@example.com", "known@example.com")
    }
    assert len(answers) == 1
    subject = KINDS[kind][3]
    assert [m.subject for m in mail.outbox[:2]] == [subject, subject]
    offer = mail.outbox[2]
    assert offer.to == ["known@example.com"]
    name = "the story “Foundry opens in Ohio”" if kind == "article" else newsroom[kind].name
    assert offer.subject == f"Add {name} to your Conclave TechMedia emails?"
    slug = newsroom[kind].slug
    assert link_in(offer).endswith(f"?add={kind}:{slug}&frequency=daily")
    assert frequencies(known) == {"tag:semiconductors": "weekly"}  # nothing changes until its owner acts
    assert not Subscriber.objects.filter(email__in=["new@example.com", "pending@example.com"]).exists()


def test_the_rate_limits_hold_across_every_kind(client, newsroom, monkeypatch):
    monkeypatch.setattr(limits, "IP_LIMIT", (3, 600))
    monkeypatch.setattr(limits, "ADDRESS_LIMIT", (2, 3600))
    for kind in ("author", "section", "article"):
        assert follow_kind(client, kind, REMOTE_ADDR="10.0.0.1").status_code == 200
    assert len(mail.outbox) == 2  # one address, mailed twice at most whatever it follows
    response = follow_kind(client, "tag", email="other@example.com", REMOTE_ADDR="10.0.0.1")
    assert_follow_page(response, 429)
    assert "Back to Semiconductors" in text(parse(response))
    assert FollowRequest.objects.count() == 3


def test_each_follow_keeps_the_frequency_confirmed_for_it(client, newsroom):
    """The issue's example: follow OpenAI daily, then Chips weekly; OpenAI stays daily."""
    openai = TagFactory(name="OpenAI", slug="openai", show_early=True)
    follow(client, openai, frequency="daily")
    follow_kind(client, "section", frequency="weekly")
    openai_link, chips_link = (link_in(message) for message in mail.outbox)

    doc = assert_follow_page(client.get(openai_link))
    assert [text(a) for a in doc.findall(".//ul[@class='tags']//a")] == ["OpenAI"]
    client.post(openai_link, {"frequency": "daily"})
    doc = assert_follow_page(client.get(chips_link))
    assert "stories in Chips" in text(doc)
    assert doc.find(".//input[@name='frequency'][@checked]").get("value") == "weekly"
    done = assert_follow_page(client.post(chips_link, {"frequency": "weekly"}))
    assert "will get stories in Chips" in text(done)
    assert [text(a) for a in done.findall(".//ul[@class='tags']//a")] == ["OpenAI", "Chips"]
    reader = Subscriber.objects.get()
    assert frequencies(reader) == {"tag:openai": "daily", "section:chips": "weekly"}


def test_confirming_a_follow_held_already_sets_its_frequency_only(client, newsroom):
    reader = subscriber(confirmed=True, tags=[newsroom["tag"]], frequency="weekly")
    Follow.objects.create(subscriber=reader, author=newsroom["author"], frequency="daily")
    link = path_of(confirm_url(pending(newsroom["author"], frequency="immediate")))
    assert "You are subscribed" in text(assert_follow_page(client.post(link, {"frequency": "immediate"})))
    assert frequencies(reader) == {"tag:semiconductors": "weekly", "author:ada-brooks": "immediate"}


def test_following_a_story_through_to_its_confirmation(client, newsroom):
    follow_kind(client, "article", frequency="immediate")
    [message] = mail.outbox
    assert "corrections and updates to “Foundry opens in Ohio”" in message.body
    doc = assert_follow_page(client.get(link_in(message)))
    assert text(doc.find(".//form[@class='follow-form']//button")) == "Yes, send me its updates"
    assert doc.find(".//ul[@class='tags']//a").get("href") == "/news/foundry-opens/"
    client.post(link_in(message), {"frequency": "immediate"})
    assert frequencies(Subscriber.objects.get()) == {"article:foundry-opens": "immediate"}


# The settings page: every follow, by kind, each with its own frequency


def settings_page(client, reader, **query):
    return assert_follow_page(client.get(path_of(follow_url(reader, "manage")), query))


def test_the_settings_page_lists_every_follow_by_kind_with_its_frequency(client, newsroom):
    reader = subscriber(confirmed=True, tags=[newsroom["tag"]], frequency="weekly")
    for kind, frequency in (("author", "daily"), ("section", "immediate"), ("article", "daily")):
        Follow.objects.create(subscriber=reader, frequency=frequency, **{kind: newsroom[kind]})
    doc = settings_page(client, reader)
    assert [text(h) for h in doc.findall(".//h3")] == ["Topics", "Authors", "Sections", "Stories"]
    items = doc.findall(".//li[@class='follow-settings__item']")
    shown = [
        (
            text(item.find(".//legend")),
            item.find(".//legend/a").get("href"),
            item.find(".//input[@type='radio'][@checked]").get("value"),
            text(item.find(".//label[@class='follow-settings__stop']")),
        )
        for item in items
    ]
    assert shown == [
        ("Semiconductors", "/tags/semiconductors/", "weekly", "Stop following Semiconductors"),
        ("Ada Brooks", "/authors/ada-brooks/", "daily", "Stop following Ada Brooks"),
        ("Chips", "/sections/chips/", "immediate", "Stop following Chips"),
        (
            "Foundry opens in Ohio",
            "/news/foundry-opens/",
            "daily",
            "Stop following the story “Foundry opens in Ohio”",
        ),
    ]
    # Every radio group is named by its legend; every field has a label.
    for radio in doc.findall(".//input[@type='radio']"):
        assert radio.get("name").startswith(("frequency-", "add_frequency"))


def test_the_settings_page_changes_each_frequency_and_stops_follows(client, newsroom):
    reader = subscriber(confirmed=True, tags=[newsroom["tag"]], frequency="weekly")
    author = Follow.objects.create(subscriber=reader, author=newsroom["author"], frequency="daily")
    section = Follow.objects.create(subscriber=reader, section=newsroom["section"], frequency="daily")
    topic = reader.follows.get(tag=newsroom["tag"])
    other = subscriber("other@example.com", confirmed=True, tags=[newsroom["tag"]], frequency="weekly")
    link = path_of(follow_url(reader, "manage"))
    response = client.post(
        link,
        {
            f"frequency-{topic.pk}": "weekly",  # unchanged
            f"frequency-{author.pk}": "immediate",
            f"frequency-{section.pk}": "weekly",
            "unfollow": [section.pk],  # stopping wins over a new frequency
            "add_frequency": "daily",  # with nothing to add, nothing is added
        },
    )
    assert response.status_code == 302
    assert frequencies(reader) == {"tag:semiconductors": "weekly", "author:ada-brooks": "immediate"}
    assert frequencies(other) == {"tag:semiconductors": "weekly"}
    # Another reader's follow is not this page's to stop.
    client.post(link, {"unfollow": [other.follows.get().pk]})
    assert frequencies(other) == {"tag:semiconductors": "weekly"}


def test_the_settings_page_adds_a_tag_an_author_or_a_section(client, newsroom):
    hidden = TagFactory(name="Free crypto giveaway", slug="free-crypto-giveaway")  # no public page
    reader = subscriber(confirmed=True, tags=[newsroom["tag"]], frequency="weekly")
    link = path_of(follow_url(reader, "manage"))
    doc = settings_page(client, reader)
    select = doc.find(".//select[@name='add']")
    assert doc.find(f".//label[@for='{select.get('id')}']") is not None
    groups = {group.get("label"): [o.get("value") for o in group] for group in select.findall("optgroup")}
    # Public tags not followed yet, every author and section; never a hidden tag.
    assert groups == {"Authors": ["author:ada-brooks"], "Sections": ["section:chips"]}
    assert hidden.name not in text(doc)

    for value, frequency in (("author:ada-brooks", "daily"), ("section:chips", "immediate")):
        assert client.post(link, {"add": value, "add_frequency": frequency}).status_code == 302
    openai = TagFactory(name="OpenAI", slug="openai", show_early=True)
    assert "tag:openai" in [o.get("value") for o in settings_page(client, reader).iter("option")]
    assert client.post(link, {"add": "tag:openai"}).status_code == 302  # immediately, unless said
    assert frequencies(reader) == {
        "tag:semiconductors": "weekly",
        "author:ada-brooks": "daily",
        "section:chips": "immediate",
        "tag:openai": "immediate",
    }
    assert openai.follows.get().subscriber == reader
    for refused in ("tag:free-crypto-giveaway", "author:nobody", "planet:mars", "article:draft"):
        assert_follow_page(client.post(link, {"add": refused}), 400)
    assert reader.follows.count() == 4


def test_a_settings_link_offers_a_story_asked_for(client, newsroom):
    reader = subscriber(confirmed=True, tags=[newsroom["tag"]])
    doc = settings_page(client, reader, add="article:foundry-opens", frequency="daily")
    assert offered(doc) == ("article:foundry-opens", "daily")
    stories = doc.find(".//select[@name='add']/optgroup[@label='Stories']")
    assert [text(o) for o in stories] == ["Foundry opens in Ohio"]
    assert "To follow the story “Foundry opens in Ohio”" in text(doc)
    link = path_of(follow_url(reader, "manage"))
    # A mistake elsewhere in the form keeps the story chosen on the page drawn again.
    mistake = {
        "add": "article:foundry-opens",
        "add_frequency": "weekly",
        f"frequency-{reader.follows.get().pk}": "hourly",
    }
    doc = assert_follow_page(client.post(link, mistake), 400)
    assert offered(doc) == ("article:foundry-opens", "weekly")
    client.post(link, {"add": "article:foundry-opens", "add_frequency": "daily"})
    assert frequencies(reader) == {"tag:semiconductors": "immediate", "article:foundry-opens": "daily"}


# The subscriber's data: download, and delete everything


@pytest.fixture
def history(newsroom):
    """A subscriber with a follow of each kind, mail sent, a pending request and a suppression row; and
    another address with the same, which nothing here may touch."""
    people = []
    for email in ("reader@example.com", "other@example.com"):
        person = subscriber(email, confirmed=True, tags=[newsroom["tag"]], frequency="weekly")
        Follow.objects.create(subscriber=person, author=newsroom["author"], frequency="daily")
        Follow.objects.create(subscriber=person, article=newsroom["article"])
        Delivery.objects.create(subscriber=person, article=newsroom["article"])
        note = Correction.objects.create(article=newsroom["article"], kind="update", note="Now open.")
        NoteDelivery.objects.create(subscriber=person, correction=note)
        new_request(newsroom["section"], email, "daily")
        Suppression.objects.create(email=email, reason="", soft_bounces=1)
        people.append(person)
    return people


def test_the_download_holds_everything_about_the_address_and_is_never_cached(client, history):
    reader, _ = history
    response = client.get(path_of(follow_url(reader, "manage")), {"download": "json"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith("attachment;")
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    data = json.loads(response.content)
    assert set(data) == {
        "subscriber",
        "follows",
        "follow_requests",
        "deliveries",
        "note_deliveries",
        "key_point_deliveries",
        "live_coverage_digest_deliveries",
        "suppression",
    }
    assert data["subscriber"]["email"] == "reader@example.com"
    assert data["subscriber"]["confirmed_at"] == reader.confirmed_at.isoformat()
    assert {"created_at", "last_daily_digest_at", "last_weekly_digest_at"} <= data["subscriber"].keys()
    assert [(f["kind"], f["name"], f["url"], f["frequency"]) for f in data["follows"]] == [
        ("tag", "Semiconductors", "https://news.example.com/tags/semiconductors/", "weekly"),
        ("author", "Ada Brooks", "https://news.example.com/authors/ada-brooks/", "daily"),
        ("article", "Foundry opens in Ohio", "https://news.example.com/news/foundry-opens/", "immediate"),
    ]
    assert all(follow["since"] for follow in data["follows"])
    [request] = data["follow_requests"]
    assert (request["kind"], request["name"], request["frequency"]) == ("section", "Chips", "daily")
    [delivery] = data["deliveries"]
    assert (delivery["story"], delivery["url"]) == (
        "Foundry opens in Ohio",
        "https://news.example.com/news/foundry-opens/",
    )
    assert delivery["sent_at"]
    [note] = data["note_deliveries"]
    assert (note["story"], note["note"], note["kind"]) == ("Foundry opens in Ohio", "Now open.", "update")
    assert data["suppression"]["email"] == "reader@example.com"
    assert data["suppression"]["soft_bounces"] == 1
    # Nothing of the other address, and no secret: no token digest, no link key.
    body = response.content.decode()
    assert "other@example.com" not in body
    assert FollowRequest.objects.get(email="reader@example.com").token_digest not in body
    assert reader.link_key not in body


def test_the_download_link_is_on_the_settings_page_and_needs_a_genuine_token(client, history):
    reader, _ = history
    doc = settings_page(client, reader)
    download = next(a for a in doc.iter("a") if text(a) == "Download your data")
    assert download.get("href") == "?download=json"
    response = client.get("/follow/manage/not-a-token/", {"download": "json"})
    assert "This link is no longer valid" in text(assert_follow_page(response, 400))
    tampered = make_token(reader, "manage")[:-2] + "xx"
    assert_follow_page(client.post(f"/follow/manage/{tampered}/", {"delete": "everything"}), 400)
    assert_follow_page(
        client.get(f"/follow/unsubscribe/{make_token(reader, 'unsubscribe')}/", {"download": "json"})
    )
    assert Subscriber.objects.filter(pk=reader.pk).exists()


def test_delete_everything_asks_first_then_removes_every_row_of_the_address(client, history):
    reader, other = history
    link = path_of(follow_url(reader, "manage"))
    doc = settings_page(client, reader)
    assert doc.find(".//button[@name='delete'][@value='ask']") is not None

    question = assert_follow_page(client.post(link, {"delete": "ask"}))
    assert text(question.find(".//h1")) == "Delete everything?"
    assert "r•••@example.com" in text(question)
    assert question.find(".//button[@name='delete'][@value='everything']") is not None
    assert question.find(".//input[@name='csrfmiddlewaretoken']") is not None
    assert Subscriber.objects.filter(pk=reader.pk).exists()  # the question deletes nothing

    # Without a CSRF token, nothing: a page elsewhere cannot delete anyone's subscription.
    assert Client(enforce_csrf_checks=True).post(link, {"delete": "everything"}).status_code == 403
    assert Subscriber.objects.filter(pk=reader.pk).exists()

    done = assert_follow_page(client.post(link, {"delete": "everything"}))
    assert text(done.find(".//h1")) == "Everything is deleted"
    email = "reader@example.com"
    assert not Subscriber.objects.filter(email=email).exists()
    assert not Follow.objects.filter(subscriber__email=email).exists()
    assert not Delivery.objects.filter(subscriber__email=email).exists()
    assert not NoteDelivery.objects.filter(subscriber__email=email).exists()
    assert not FollowRequest.objects.filter(email=email).exists()
    assert not Suppression.objects.filter(email=email).exists()
    # The other address keeps all it had.
    assert other.follows.count() == 3
    assert (other.deliveries.count(), other.note_deliveries.count()) == (1, 1)
    assert FollowRequest.objects.filter(email=other.email).count() == 1
    assert Suppression.objects.filter(email=other.email).exists()
    # The link is dead now, for the download too.
    assert_follow_page(client.get(link), 400)
    assert_follow_page(client.get(link, {"download": "json"}), 400)


def test_leaving_keeps_the_suppression_so_a_bounced_address_stays_unmailed(client, history):
    reader, _ = history
    client.post(path_of(follow_url(reader, "manage")), {"leave": "1"})
    assert not Subscriber.objects.filter(email=reader.email).exists()
    assert not FollowRequest.objects.filter(email=reader.email).exists()
    assert Suppression.objects.filter(email=reader.email).exists()


@pytest.mark.parametrize("kind", ["author", "article"])
def test_following_another_kind_takes_the_same_work_whatever_the_address(newsroom, kind):
    known = subscriber("known@example.com", confirmed=True, tags=[newsroom["tag"]])
    work = []
    # The first answer also reads the site's navigation into the cache, whoever it is for.
    for n, email in enumerate(["first@example.com", "new@example.com", known.email]):
        request = RequestFactory().post(
            f"{KINDS[kind][0]}follow/", {"email": email, "frequency": "daily"}, REMOTE_ADDR=f"10.0.1.{n}"
        )
        request._dont_enforce_csrf_checks = True
        with CaptureQueriesContext(connection) as queries:
            response = views.FollowView.as_view(kind=kind)(request, slug=newsroom[kind].slug)
        work.append((response.content, [shape(query["sql"]) for query in queries]))
        close(response)
    assert work[1] == work[2]
    assert [statement.split()[0] for statement in work[1][1]] == ["SELECT", "INSERT", "SELECT", "SELECT"]
    assert len(mail.outbox) == 3
