"""axe-core in Chromium on every public page type, in the light and the dark colour scheme.

The rules: WCAG 2.0, 2.1 and 2.2 at levels A and AA, plus axe's best practices. One test per scheme
visits every page type and reports every violation found on any of them, so one run shows all there
is to mend.
"""

import datetime
import io
import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core.management import call_command
from django.utils import timezone

from articles import preview
from articles.following import tokens
from articles.models import Article, Author, Section, Subscriber, Tag
from tests.browser.conftest import BROWSER_DB, assert_clean, tab_through
from tests.factories import ArticleFactory

pytestmark = BROWSER_DB

AXE_RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa", "best-practice"]
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": AXE_RULES}, "resultTypes": ["violations"]}


@pytest.fixture
def public_pages():
    """The demo stories, a tag with two pages of them, a subscriber: the address of each page type."""
    call_command("load_demo", stdout=io.StringIO())
    story = Article.objects.get(slug__startswith="openai-foxconn")
    tag = story.tags.order_by("name").first()
    for i in range(25):
        ArticleFactory(
            title=f"Rack density report, part {i + 1}",
            section=story.section,
            authors=list(story.authors.all()),
            tags=[tag],
            published_at=story.published_at - datetime.timedelta(days=i + 1),
        )
    draft = ArticleFactory(title="Draft: the next foundry", status=Article.Status.DRAFT)
    subscriber = Subscriber.objects.create(email="reader@example.com", confirmed_at=timezone.now())
    subscriber.follows.create(tag=tag, frequency="daily")
    # One follow of each kind, so the settings page shows every group.
    subscriber.follows.create(author=story.authors.first(), frequency="weekly")
    subscriber.follows.create(section=story.section)
    subscriber.follows.create(article=story)
    _, confirm_token = tokens.new_request(tag, "new@example.com", "daily")
    published = story.published_at
    return {
        "home": "/",
        "article": story.get_absolute_url(),
        # Every kind of media a body can hold: a gallery, figures, embeds, highlighted code.
        "teardown": Article.objects.get(slug="quantix-q3-accelerator-teardown").get_absolute_url(),
        "draft preview": relative(preview.preview_url(draft)),
        "section": Section.objects.get(pk=story.section_id).get_absolute_url(),
        "tag": tag.get_absolute_url(),
        "tag, page 2": tag.get_absolute_url() + "?page=2",
        "tag index": "/tags/",
        "author": Author.objects.filter(articles=story).first().get_absolute_url(),
        "archive month": f"/archive/{published:%Y}/{published:%m}/",
        "search": "/search/?q=foxconn",
        "search, nothing found": "/search/?q=zeppelin",
        "search, empty": "/search/",
        "follow confirm": relative(tokens.confirm_url(confirm_token)),
        "follow manage": relative(tokens.follow_url(subscriber, "manage")),
        "follow manage, a story offered": relative(tokens.follow_url(subscriber, "manage"))
        + f"?add=article:{Article.objects.get(slug='quantix-q3-accelerator-teardown').slug}&frequency=daily",
        "unsubscribe": relative(tokens.follow_url(subscriber, "unsubscribe")),
        "follow, bad link": "/follow/confirm/not-a-real-token/",
        "not found": "/no-such-page/",
        # A topic an editor opened before its first story (a tag with no published story has no page).
        "empty tag": Tag.objects.create(
            name="Zeppelins", slug="zeppelins", show_early=True
        ).get_absolute_url(),
    }


ERROR_PAGES = {"not found": 404, "follow, bad link": 400}


def relative(url):
    return "/" + url.split("/", 3)[3]


def violations_on(page):
    """axe's violations on the page, each as 'rule (impact): help -- the elements at fault'."""
    found = Axe().run(page, options=AXE_OPTIONS).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} -- " + "; ".join(str(n["target"]) for n in v["nodes"][:5])
        for v in found
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_public_page_type_passes_axe(reader, public_pages, scheme):
    reader.emulate_media(color_scheme=scheme)
    reader.goto(reader.site + "/")
    assert reader.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") == (scheme == "dark")
    found = {}
    problems = reader.problems.problems
    for name, path in public_pages.items():
        seen = len(problems)
        response = reader.goto(reader.site + path)
        assert response.status == ERROR_PAGES.get(name, 200), name
        if name in ERROR_PAGES:  # its status, and the console's note of it, are meant
            problems[seen:] = [p for p in problems[seen:] if str(response.status) not in p]
        if violations := violations_on(reader):
            found[name] = violations
    # The follow form's answers, reached as a reader reaches them: from the tag page's box (a GET of
    # the form's address only leads back there).
    reader.goto(reader.site + public_pages["tag"])
    reader.get_by_label("Email address").fill("someone@example.com")
    follow = reader.get_by_role("button", name=re.compile("^Follow "))
    follow.click()
    reader.get_by_role("heading", level=1, name=re.compile("^Follow ")).wait_for()
    found["follow form"] = violations_on(reader)
    follow.click()
    reader.get_by_role("heading", level=1, name="Check your inbox").wait_for()
    found["follow sent"] = violations_on(reader)
    assert {name: violations for name, violations in found.items() if violations} == {}
    assert_clean(reader)


@pytest.mark.parametrize(("scheme", "width"), [("light", 1280), ("dark", 1280), ("light", 375)])
def test_the_focus_can_be_seen_at_every_stop_of_every_public_page(reader, public_pages, scheme, width):
    reader.set_viewport_size({"width": width, "height": 800})
    reader.emulate_media(color_scheme=scheme)
    for name, path in public_pages.items():
        reader.goto(reader.site + path)
        assert tab_through(reader) >= 5, f"{name}: too few focus stops: is the page there?"


def test_the_follow_form_with_an_error_passes_axe(reader, public_pages):
    """The error state too: the message is tied to its field, and the field says it is invalid."""
    reader.goto(reader.site + public_pages["tag"])
    email = reader.get_by_label("Email address")
    email.fill("not-an-email@")
    # The browser's own check would stop the form before the server sees it.
    reader.locator("form.follow-form").evaluate("form => form.noValidate = true")
    email.press("Enter")
    assert email.get_attribute("aria-invalid") == "true"
    assert "email" in reader.locator(f"#{email.get_attribute('aria-describedby').split()[0]}").inner_text()
    assert violations_on(reader) == []


def test_axe_finds_a_broken_page(reader, public_pages):
    """The check can fail: an unlabelled field and a low-contrast line on a real page are found."""
    reader.goto(reader.site + public_pages["article"])
    reader.evaluate(
        """() => {
        const main = document.querySelector('main');
        main.insertAdjacentHTML('beforeend', '<input type="text" name="unlabelled"><p>faint</p>');
        // Through the CSSOM: the site's CSP (rightly) ignores style attributes in markup.
        Object.assign(main.lastElementChild.style, {color: '#bbb', background: '#fff'});
    }"""
    )
    rules = {line.split(" ")[0] for line in violations_on(reader)}
    assert {"label", "color-contrast"} <= rules
