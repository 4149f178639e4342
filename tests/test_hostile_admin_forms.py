"""Hostile third-party input (tests/corpora, see its README) through the admin's article form.

The inputs: every text field of the form, tags, a correction note, bad values in the structured fields,
and the Markdown preview endpoint. What is checked: every page they answer with (0 server errors, 0 unsafe
outputs, judged by tests/support/hostile_checker.py), the public pages an accepted article then appears
on, the admin pages that show it again, the feeds and sitemaps, and the emails sent. The alt text, caption
and credit go through the image library's form, and the picture is the story's hero and a figure of its
body. Image uploads are in tests/test_hostile_uploads.py.

Every test loops over its inputs and reports each failing one (address, field, input, and the traceback or
the unsafe fragment) rather than stopping at the first.
"""

import datetime

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from articles.following.sending import send_due_notifications
from articles.models import Article, Follow, Image, Subscriber, Tag
from tests.factories import TagFactory, jpeg_upload
from tests.support.hostile_checker import short_traceback
from tests.support.hostile_corpora import every_string, per_file
from tests.support.hostile_requests import ip
from tests.test_admin import ADD_URL, IMAGE_ADD_URL, article_form

pytestmark = pytest.mark.usefixtures("quiet_request_logs")

PREVIEW_URL = reverse("admin:articles_article_markdown_preview")

# How many strings of each corpus file each input takes, spread evenly over the file (see per_file): the
# whole file when it is shorter. An admin submission costs 100-200 ms.
ADMIN_SAMPLE = 12  # the admin article form's text fields
ADMIN_BAD_VALUE_SAMPLE = 3  # the admin form's structured fields, which must refuse them
PREVIEW_SAMPLE = 2  # the admin's Markdown preview endpoint (each render is a forked process)

ADMIN_TEXT_FIELDS = {
    "title": 200,
    "standfirst": 400,
    "seo_title": 70,
    "seo_description": 160,
    # The image library's form, for the story's hero and a figure in its body.
    "image-alt": 250,
    "image-caption": 300,
    "image-credit": 200,
}
# Beyond the text fields, each submission carries one more string as a tag and one as a correction note.
PER_SUBMISSION = len(ADMIN_TEXT_FIELDS) + 2
BODY_PIECE_CHARS = 3000  # the ReDoS corpus is the renderer's business (test_rendering_corpus.py)


def _fits(value, limit):
    """The string cut to the field's length, made non-blank (blank would fail "required", not the test)."""
    value = value[:limit]
    return value if value.strip() else f"{value[: limit - 1]}x"


def local_form_datetime(moment, prefix):
    moment = timezone.localtime(moment)
    return {f"{prefix}_0": moment.strftime("%Y-%m-%d"), f"{prefix}_1": moment.strftime("%H:%M:%S")}


def hostile_submissions(base, strings):
    """(form data, [(field, corpus file, string)]): the strings PER_SUBMISSION at a time, every text field
    holding one, the tag field and a correction note one more each, the body all of them as Markdown."""
    published = local_form_datetime(timezone.now() - datetime.timedelta(days=1), "published_at")
    noted = local_form_datetime(timezone.now(), "corrections-0-noted_at")
    for n in range(0, len(strings), PER_SUBMISSION):
        chunk = strings[n : n + PER_SUBMISSION]
        chunk += strings[: PER_SUBMISSION - len(chunk)]  # the last one is topped up from the start
        fields = [*ADMIN_TEXT_FIELDS, "tags", "corrections-0-note"]
        data = {
            **base,
            **published,
            **noted,
            "slug": f"hostile-{n}",
            "status": "published",
            "corrections-TOTAL_FORMS": "1",
            "corrections-0-kind": "correction",
            "body": "\n\n".join(value[:BODY_PIECE_CHARS] for _, value in chunk),
            "image-file": jpeg_upload(f"hero-{n}.jpg", size=(320, 180)),
            "image-focal_x": "0.5",
            "image-focal_y": "0.5",
        }
        for field, (_, value) in zip(fields, chunk, strict=True):
            if field == "tags":
                data["tags"] = f"Hostile, {value[:100]}"  # parsed by taggit, as an editor's input is
            elif field == "corrections-0-note":
                data[field] = _fits(value, 1000)
            else:
                data[field] = _fits(value, ADMIN_TEXT_FIELDS[field])
        yield data, [(field, name, value) for field, (name, value) in zip(fields, chunk, strict=True)]


def tag_url(tag):
    try:
        return tag.get_absolute_url()
    except Exception as exc:  # an address the tag cannot have is a failure of its own, reported by the caller
        return exc


@pytest.mark.timeout(240)
def test_admin_article_form_text_fields(no_page_cache, editor_browser, visitor, audit):
    """Every text field, the tags and a correction note: the admin pages, then every public page the
    article appears on, its feeds, the follow form of its new tags and the emails it causes."""
    base = article_form()
    strings = [item for item in per_file(ADMIN_SAMPLE) if "\x00" not in item[1]]  # NUL: the next test
    # Followers, since before the stories: a digest of them all, and a single-story alert.
    hostile, solo = TagFactory(name="Hostile", slug="hostile"), TagFactory(name="Solo", slug="solo")
    long_ago = timezone.now() - datetime.timedelta(days=3)
    followers = [("all@example.com", "daily", hostile), ("one@example.com", "immediate", solo)]
    for email, frequency, tag in followers:
        person = Subscriber.objects.create(email=email, confirmed_at=long_ago)
        Follow.objects.create(subscriber=person, tag=tag, frequency=frequency)
    Follow.objects.update(created_at=long_ago)

    saved, refused, seen_tags = [], [], {hostile.pk, solo.pk}
    for number, (data, placed) in enumerate(hostile_submissions(base, strings)):
        if number == 0:
            data["tags"] += ", Solo"
        where = f"POST {ADD_URL} (submission {number}, from {sorted({name for _, name, _ in placed})})"
        values = {field: value for field, _, value in placed}
        picture = {
            key.removeprefix("image-"): data.pop(key) for key in list(data) if key.startswith("image-")
        }
        response = editor_browser.post(IMAGE_ADD_URL, picture)
        audit.response(response, f"POST {IMAGE_ADD_URL} ({where})", values, mode="admin", statuses={200, 302})
        if response.status_code == 302:
            image = Image.objects.latest("pk")
            data["hero"] = image.pk
            data["body"] += f"\n\n![](image:{image.pk})"  # the library's alt text and caption
        else:
            form = response.context and response.context.get("adminform")
            refused.append((values, form.form.errors.as_json() if form else response.status_code))
        response = editor_browser.post(ADD_URL, data)
        audit.response(response, where, values, mode="admin", statuses={200, 302})
        tag_errors = response.status_code == 200 and response.context["adminform"].form.errors.get("tags")
        if tag_errors and "needs a letter or a digit" in tag_errors[0]:
            # A tag of symbols alone is refused with a message; the other fields still go through.
            response = editor_browser.post(ADD_URL, {**data, "tags": base["tags"]})
            audit.response(response, where, values, mode="admin", statuses={200, 302})
        if response.status_code != 302:
            form = response.context and response.context.get("adminform")
            refused.append((values, form.form.errors.as_json() if form else response.status_code))
            continue
        article = Article.objects.get(slug=data["slug"])
        saved.append(article)
        pages = [(visitor, article.get_absolute_url(), "page")]
        pages.append((editor_browser, reverse("admin:articles_article_change", args=[article.pk]), "admin"))
        if article.hero_id:
            image_page = reverse("admin:articles_image_change", args=[article.hero_id])
            pages.append((editor_browser, image_page, "admin"))
        for tag in article.tags.all():
            if tag.pk in seen_tags:
                continue
            seen_tags.add(tag.pk)
            url = tag_url(tag)
            if isinstance(url, Exception):
                audit.fail(f"tag {tag.name!r} (slug {tag.slug!r}) of {where}", values, f"no address: {url!r}")
                continue
            pages += [(visitor, url, "page"), (visitor, f"{url}feed/", "page")]
            sent_before = len(mail.outbox)
            address = f"t{tag.pk}@example.com"
            response = visitor.post(f"{url}follow/", {"email": address}, REMOTE_ADDR=ip(tag.pk))
            audit.response(response, f"POST follow form of tag {tag.name!r}", values, statuses={200})
            audit.emails(mail.outbox[sent_before:], f"follow mail of tag {tag.name!r}")
        for browser, url, mode in pages:
            audit.response(browser.get(url), f"GET {url} after {where}", values, mode=mode, statuses={200})

    assert len(saved) >= 0.9 * (len(saved) + len(refused)), f"the form refused too many: {refused[:5]}"
    with_picture = sum(article.hero_id is not None for article in saved)
    assert with_picture >= 0.9 * len(saved), f"the library refused too many: {refused[:5]}"
    # Every listing the stories appear on, with and without a search, the feeds and the sitemaps.
    month = timezone.localtime(saved[0].published_at)
    listings = ["/", "/?page=2", "/sections/industry/", "/tags/", "/tags/?page=2", f"/archive/{month:%Y/%m}/"]
    listings += [saved[0].authors.first().get_absolute_url(), "/tags/hostile/", "/tags/hostile/?page=2"]
    listings += [f"/search/?q={word}" for word in ("alert", "script", "img", "javascript", "a", "x", "1")]
    listings += ["/feed/", "/feed/atom/", "/sections/industry/feed/"]
    listings += ["/tags/hostile/feed/", "/tags/hostile/feed/atom/"]
    listings += ["/sitemap.xml", "/sitemap-articles.xml", "/sitemap-tags.xml", "/news-sitemap.xml"]
    for url in listings:
        audit.response(visitor.get(url), f"GET {url} (hostile stories)", None, statuses={200})
    admin_pages = [
        reverse("admin:articles_article_changelist"),
        reverse("admin:articles_article_changelist") + "?q=alert",
        reverse("admin:articles_tag_changelist"),
        reverse("admin:articles_image_changelist"),
        reverse("admin:articles_image_changelist") + "?q=alert",
        reverse("admin:articles_image_picker") + "?q=a",
        reverse("admin:articles_article_revisions", args=[saved[0].pk]),
    ]
    for url in admin_pages:
        response = editor_browser.get(url)
        audit.response(response, f"GET {url} (hostile stories)", None, mode="admin", statuses={200})
    sent_before = len(mail.outbox)
    try:
        send_due_notifications()
    except Exception as exc:  # reported with the other failures
        audit.fail("send_due_notifications() after the hostile stories", None, short_traceback(exc))
    else:
        expected = 1 + any(solo in article.tags.all() for article in saved)  # the digest, the alert
        if len(mail.outbox) - sent_before != expected:
            audit.fail(
                "send_due_notifications()", None, f"{len(mail.outbox) - sent_before} mails, not {expected}"
            )
    audit.emails(mail.outbox[sent_before:], "notifications of the hostile stories")
    # On PostgreSQL a value longer than its column is a DataError (a 500); SQLite stores it anyway.
    for tag in Tag.objects.all():
        if not tag.slug or len(tag.slug) > 100 or len(tag.name) > 100:
            detail = f"tag stored with slug {tag.slug!r} (name {len(tag.name)} chars, slug {len(tag.slug)})"
            audit.fail("admin article form, tags field", tag.name, detail)
    audit.assert_clean(minimum_responses=len(strings) // PER_SUBMISSION)


def test_admin_article_form_refuses_bad_structured_values(no_page_cache, editor_browser, audit):
    """Corpus strings where the form expects a slug, a date, a choice, an id or a count, and strings with a
    NUL in the text fields: a form error each time, nothing saved."""
    base = article_form()
    fields = [
        "slug",
        "published_at_0",
        "published_at_1",
        "status",
        "section",
        "authors",
        "hero",
        "corrections-0-kind",
        "corrections-0-noted_at_0",
        "corrections-INITIAL_FORMS",
    ]
    strings = per_file(ADMIN_BAD_VALUE_SAMPLE)
    submissions = []
    # One hostile value in every structured field at once, then each field alone (to name the culprit).
    for n in range(0, len(strings), len(fields)):
        submissions.append({field: value for field, (_, value) in zip(fields, strings[n:], strict=False)})
    submissions += [{field: strings[i][1]} for i, field in enumerate(fields)]
    for _, value in every_string():
        if "\x00" in value:  # Django refuses NUL in text; every text field and the body at once
            submissions.append(dict.fromkeys([*ADMIN_TEXT_FIELDS, "body", "tags"], value))
            picture = {"file": jpeg_upload(), "focal_x": "0.5", "focal_y": "0.5"}
            picture |= dict.fromkeys(["alt", "caption", "credit"], value)
            response = editor_browser.post(IMAGE_ADD_URL, picture)
            audit.response(response, f"POST {IMAGE_ADD_URL} (NUL)", value, mode="admin", statuses={200})
    for values in submissions:
        data = {**base, "corrections-TOTAL_FORMS": "1", "corrections-0-note": "A note.", **values}
        response = editor_browser.post(ADD_URL, data)
        where = f"POST {ADD_URL} ({', '.join(values)})"
        audit.response(response, where, values, mode="admin", statuses={200})
    assert not Article.objects.exists() and not Image.objects.exists()
    audit.assert_clean(minimum_responses=len(submissions))


def test_admin_markdown_preview(editor_browser, audit):
    values = per_file(PREVIEW_SAMPLE)
    for name, value in values:
        response = editor_browser.post(PREVIEW_URL, {"body": value})
        audit.response(response, f"POST {PREVIEW_URL} body= ({name})", value, statuses={200, 400})
    audit.assert_clean(minimum_responses=len(values))


LIVE_SAMPLE = 4  # strings of each corpus file posted as live updates (each post renders in a fork)


@pytest.mark.timeout(240)
def test_admin_live_desk_updates(no_page_cache, editor_browser, visitor, audit):
    """Hostile strings posted as live updates through the live desk: the desk, the story page, the
    fragment readers poll and the updates' admin list."""
    story = Article.objects.create(
        title="Live", slug="hostile-live", body="Live.", status="published", coverage="live"
    )
    desk = reverse("admin:articles_article_live", args=[story.pk])
    strings = [item for item in per_file(LIVE_SAMPLE) if "\x00" not in item[1]]
    for name, value in strings:
        data = {"action": "post", "body": value[:5000], "is_key_point": "on" if len(value) % 2 else ""}
        response = editor_browser.post(desk, data)
        audit.response(
            response, f"POST {desk} (from {name})", {"body": value}, mode="admin", statuses={200, 302}
        )
    pages = [
        (editor_browser, desk, "admin"),
        (editor_browser, reverse("admin:articles_liveentry_changelist"), "admin"),
    ]
    pages += [
        (visitor, story.get_absolute_url(), "page"),
        (visitor, f"{story.get_absolute_url()}live/", "page"),
    ]
    for browser, url, mode in pages:
        audit.response(browser.get(url), f"GET {url} (hostile updates)", None, mode=mode, statuses={200})
    assert story.live_entries.count() >= 0.9 * len(strings)
    audit.assert_clean(minimum_responses=len(strings))
