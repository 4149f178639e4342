"""A reader follows a tag, an author, a section or a story by email, in Chromium, through to the
confirmed subscription; a subscriber manages it. With the keyboard alone, and axe on every page met."""

import re
import time
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.core import mail
from django.utils import timezone

from articles.following.tokens import follow_url
from articles.models import Follow, Subscriber
from tests.browser.conftest import BROWSER_DB, assert_clean, assert_no_horizontal_scroll, tab_to
from tests.browser.test_accessibility import AXE_OPTIONS
from tests.factories import ArticleFactory, AuthorFactory, SectionFactory, TagFactory

pytestmark = BROWSER_DB


def the_mail():
    """The one mail sent: the follow view sends it after its answer, from a thread of the live server."""
    deadline = time.monotonic() + 10
    while not mail.outbox and time.monotonic() < deadline:
        time.sleep(0.05)
    (message,) = mail.outbox
    return message


def violations(page):
    found = Axe().run(page, options=AXE_OPTIONS).response["violations"]
    return [f"{v['id']}: {v['help']} -- {[n['target'] for n in v['nodes'][:5]]}" for v in found]


@pytest.fixture
def newsroom():
    tag = TagFactory(name="Semiconductors", slug="semiconductors")
    author = AuthorFactory(name="Ada Brooks", slug="ada-brooks")
    section = SectionFactory(name="Chips", slug="chips")
    story = ArticleFactory(
        title="Foundry opens in Ohio", slug="foundry-opens", tags=[tag], authors=[author], section=section
    )
    return {"tag": tag, "author": author, "section": section, "article": story}


def test_following_a_tag_by_email_through_to_the_confirmation(reader):
    tag = TagFactory(name="Semiconductors", slug="semiconductors")
    ArticleFactory(title="Foundry opens", tags=[tag])
    reader.goto(reader.site + tag.get_absolute_url())
    reader.get_by_label("Email address").fill("reader@example.com")
    reader.get_by_label("Daily digest").check()
    reader.get_by_role("button", name="Follow Semiconductors").click()
    # The cached tag page carries no CSRF token: one more click on a page that has one.
    reader.get_by_role("button", name="Follow Semiconductors").click()
    assert reader.get_by_role("heading", level=1).inner_text() == "Check your inbox"

    message = the_mail()
    assert message.to == ["reader@example.com"]
    link = re.search(r"https?://\S+/follow/confirm/\S+/", message.body).group(0)
    reader.goto(link)
    assert reader.get_by_role("heading", level=1).inner_text() == "Confirm your subscription"
    reader.get_by_role("button", name="Yes, send me these stories").click()
    assert reader.get_by_role("heading", level=1).inner_text() == "You are subscribed"
    subscriber = Subscriber.objects.get(email="reader@example.com")
    assert subscriber.is_confirmed
    assert [(follow.tag, follow.frequency) for follow in subscriber.follows.all()] == [(tag, "daily")]
    assert_clean(reader)


def test_following_a_tag_with_the_keyboard_alone(reader):
    tag = TagFactory(name="Semiconductors", slug="semiconductors")
    ArticleFactory(title="Foundry opens", tags=[tag])
    reader.goto(reader.site + tag.get_absolute_url())
    tab_to(reader, "input[type=email]")
    reader.keyboard.type("reader@example.com")
    tab_to(reader, "input[type=radio]", limit=1)  # the group's checked choice: Immediately
    reader.keyboard.press("ArrowDown")  # moves to, and checks, Daily digest
    tab_to(reader, "button", text="Follow Semiconductors", limit=1)
    reader.keyboard.press("Enter")
    # The page with a CSRF token: its button, once more.
    reader.wait_for_url("**/tags/semiconductors/follow/")
    tab_to(reader, "button", text="Follow Semiconductors")
    reader.keyboard.press("Enter")
    reader.get_by_role("heading", name="Check your inbox").wait_for()

    link = re.search(r"https?://\S+/follow/confirm/\S+/", the_mail().body).group(0)
    reader.goto(link)
    tab_to(reader, "button", text="Yes, send me these stories")
    reader.keyboard.press("Enter")
    reader.get_by_role("heading", name="You are subscribed").wait_for()
    subscriber = Subscriber.objects.get(email="reader@example.com")
    assert subscriber.is_confirmed and subscriber.follows.get().frequency == "daily"
    assert_clean(reader)


# Each kind's page: (its address, the box's button, the confirmation button)
KINDS = {
    "author": ("/authors/ada-brooks/", "Follow Ada Brooks", "Yes, send me these stories"),
    "section": ("/sections/chips/", "Follow Chips", "Yes, send me these stories"),
    "article": ("/news/foundry-opens/", "Follow this story", "Yes, send me its updates"),
}


@pytest.mark.parametrize("width", [375, 1280])
@pytest.mark.parametrize("kind", KINDS)
def test_following_an_author_a_section_or_a_story_with_the_keyboard_alone(reader, newsroom, kind, width):
    """Tab to the field, type, Tab to the frequency radios and choose with the arrows, Enter; axe finds
    nothing on any page on the way."""
    page, button, yes = KINDS[kind]
    reader.set_viewport_size({"width": width, "height": 800})
    reader.goto(reader.site + page)
    assert violations(reader) == []
    assert_no_horizontal_scroll(reader)
    tab_to(reader, "#follow-box-email")
    reader.keyboard.type("reader@example.com")
    tab_to(reader, "input[type=radio]", limit=1)
    reader.keyboard.press("ArrowDown")
    reader.keyboard.press("ArrowDown")  # Weekly digest
    tab_to(reader, "button", text=button, limit=1)
    reader.keyboard.press("Enter")

    reader.wait_for_url(f"**{page}follow/")
    reader.get_by_role("heading", level=1, name=button).wait_for()
    assert violations(reader) == []
    assert reader.locator("input[name=frequency]:checked").get_attribute("value") == "weekly"
    tab_to(reader, "button", text=button)
    reader.keyboard.press("Enter")
    reader.get_by_role("heading", name="Check your inbox").wait_for()
    assert violations(reader) == []

    reader.goto(re.search(r"https?://\S+/follow/confirm/\S+/", the_mail().body).group(0))
    assert violations(reader) == []
    tab_to(reader, "button", text=yes)
    reader.keyboard.press("Enter")
    reader.get_by_role("heading", name="You are subscribed").wait_for()
    assert violations(reader) == []
    follow = Subscriber.objects.get(email="reader@example.com").follows.get()
    assert (follow.kind, follow.target, follow.frequency) == (kind, newsroom[kind], "weekly")
    assert_clean(reader)


@pytest.fixture
def subscribed(newsroom):
    """A subscriber following one of each kind, at different frequencies."""
    person = Subscriber.objects.create(email="reader@example.com", confirmed_at=timezone.now())
    person.follows.create(tag=newsroom["tag"], frequency="daily")
    person.follows.create(article=newsroom["article"], frequency="immediate")
    return person


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_settings_page_with_the_keyboard_alone(reader, newsroom, subscribed, scheme):
    """Change a follow's frequency, add an author at a frequency, save: Tab, arrows, typing and Enter."""
    reader.emulate_media(color_scheme=scheme)
    topic = subscribed.follows.get(tag=newsroom["tag"])
    reader.goto(follow_url(subscribed, "manage"))
    assert violations(reader) == []
    tab_to(reader, f"input[name='frequency-{topic.pk}']")  # lands on its checked choice, Daily
    reader.keyboard.press("ArrowDown")  # Weekly digest
    tab_to(reader, "select[name=add]")
    reader.keyboard.type("Ada")  # a closed select picks the option its typed name starts with
    assert reader.locator("select[name=add]").input_value() == "author:ada-brooks"
    tab_to(reader, "input[name=add_frequency]", limit=1)
    reader.keyboard.press("ArrowRight")  # Daily digest
    tab_to(reader, "button", text="Save", limit=1)
    reader.keyboard.press("Enter")
    reader.get_by_text("Your changes are saved.").wait_for()
    assert violations(reader) == []
    kept = {(follow.kind, follow.frequency) for follow in Follow.objects.filter(subscriber=subscribed)}
    assert kept == {("tag", "weekly"), ("author", "daily"), ("article", "immediate")}

    # Stop following the story, with the keyboard too.
    story = subscribed.follows.get(article=newsroom["article"])
    tab_to(reader, f"input[name=unfollow][value='{story.pk}']")
    reader.keyboard.press("Space")
    tab_to(reader, "button", text="Save")
    reader.keyboard.press("Enter")
    reader.get_by_text("Your changes are saved.").wait_for()
    assert not subscribed.follows.filter(article=newsroom["article"]).exists()
    assert_clean(reader)


@pytest.mark.parametrize("width", [375, 1280])
def test_the_settings_pages_pass_axe_and_fit_the_screen(reader, newsroom, subscribed, width):
    reader.set_viewport_size({"width": width, "height": 800})
    subscribed.follows.create(author=newsroom["author"], frequency="weekly")
    subscribed.follows.create(section=newsroom["section"], frequency="daily")
    manage = follow_url(subscribed, "manage")
    found = {}
    reader.goto(manage)
    found["manage"] = violations(reader)
    assert_no_horizontal_scroll(reader)
    reader.goto(manage + "?add=tag:nothing")  # nothing to offer: the plain page
    # A story offered, with a title long enough to widen its select past a phone's screen.
    long = ArticleFactory(
        title="Foundry opens in Ohio after a decade of planning, three lawsuits and one very long lunch",
        slug="long",
    )
    reader.goto(manage + f"?add=article:{long.slug}")
    found["manage, a story offered"] = violations(reader)
    assert_no_horizontal_scroll(reader)
    # Open the question, check it, and step back from it: nothing is deleted.
    reader.goto(manage)
    reader.get_by_role("button", name="Delete everything").click()
    reader.get_by_role("heading", level=1, name="Delete everything?").wait_for()
    found["delete question"] = violations(reader)
    assert_no_horizontal_scroll(reader)
    reader.get_by_role("link", name="No, back to your settings").click()
    reader.get_by_role("heading", level=1, name="Your subscription").wait_for()
    assert Subscriber.objects.filter(pk=subscribed.pk).exists()
    reader.get_by_role("button", name="Delete everything").click()
    reader.get_by_role("button", name="Yes, delete everything").click()
    reader.get_by_role("heading", level=1, name="Everything is deleted").wait_for()
    found["deleted"] = violations(reader)
    assert {name: found for name, found in found.items() if found} == {}
    assert not Subscriber.objects.exists() and not Follow.objects.exists()
    assert_clean(reader)


def test_the_download_link_saves_a_json_file(reader, subscribed):
    reader.goto(follow_url(subscribed, "manage"))
    with reader.expect_download() as download:
        reader.get_by_role("link", name="Download your data").click()
    saved = download.value
    assert saved.suggested_filename == "conclave-subscription.json"
    assert '"email": "reader@example.com"' in Path(saved.path()).read_text()
    assert_clean(reader)
