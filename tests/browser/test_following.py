"""A reader follows a tag by email, in Chromium, through to the confirmed subscription."""

import re
import time

from django.core import mail

from articles.models import Subscriber
from tests.browser.conftest import BROWSER_DB, assert_clean, tab_to
from tests.factories import ArticleFactory, TagFactory

pytestmark = BROWSER_DB


def the_mail():
    """The one mail sent: the follow view sends it after its answer, from a thread of the live server."""
    deadline = time.monotonic() + 10
    while not mail.outbox and time.monotonic() < deadline:
        time.sleep(0.05)
    (message,) = mail.outbox
    return message


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
    assert subscriber.is_confirmed and subscriber.frequency == "daily"
    assert [follow.tag for follow in subscriber.follows.all()] == [tag]
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
    assert subscriber.is_confirmed and subscriber.frequency == "daily"
    assert_clean(reader)
