"""A reader in Chromium: the front page, a story, its tags, a tag's pages, search; phone-width layout."""

import pytest

from tests.browser.conftest import BROWSER_DB, assert_clean, assert_no_horizontal_scroll, tab_to

pytestmark = BROWSER_DB


def test_reading_the_front_page_and_opening_the_lead_story(reader, newsroom):
    lead, _ = newsroom
    reader.goto(reader.site + "/")
    lead_link = reader.get_by_role("link", name=lead.title)
    lead_link.first.click()
    reader.wait_for_url(f"**{lead.get_absolute_url()}")
    assert reader.get_by_role("heading", level=1).inner_text() == lead.title
    hero = reader.locator("img[alt='The foundry at dawn']")
    assert hero.evaluate("img => img.complete && img.naturalWidth > 0")
    assert_clean(reader)


def test_reading_a_story_and_following_a_tag_link(reader, newsroom):
    lead, _ = newsroom
    reader.goto(reader.site + lead.get_absolute_url())
    reader.get_by_role("link", name="Manufacturing", exact=True).click()
    reader.wait_for_url("**/tags/manufacturing/")
    assert "Manufacturing" in reader.get_by_role("heading", level=1).inner_text()
    assert reader.get_by_role("link", name=lead.title).count() >= 1
    assert_clean(reader)


def test_paginating_a_tag_page(reader, newsroom):
    _, tag = newsroom
    reader.goto(reader.site + tag.get_absolute_url())
    first_page = reader.locator("main h2 a, main h3 a").all_inner_texts()
    reader.get_by_role("link", name="Older").click()
    reader.wait_for_url("**?page=2")
    assert "Page 2 of 2" in reader.locator(".pagination").inner_text()
    second_page = reader.locator("main h2 a, main h3 a").all_inner_texts()
    assert second_page and not set(second_page) & set(first_page)
    reader.get_by_role("link", name="Newer").click()
    reader.wait_for_url(f"**{tag.get_absolute_url()}?page=1")
    assert_clean(reader)


def test_searching_from_the_header(reader, newsroom):
    lead, _ = newsroom
    reader.goto(reader.site + "/")
    reader.get_by_role("searchbox", name="Search stories").fill("quantum foundry")
    reader.get_by_role("button", name="Search").click()
    reader.wait_for_url("**/search/?q=quantum+foundry")
    assert reader.get_by_role("link", name=lead.title).count() == 1
    assert reader.locator("mark").count() >= 1  # the words found are highlighted
    assert_clean(reader)


@pytest.mark.parametrize("path", ["/", "story", "/tags/semiconductors/", "/search/?q=foundry", "/tags/"])
def test_no_page_scrolls_sideways_on_a_small_phone(reader, newsroom, path):
    lead, _ = newsroom
    reader.set_viewport_size({"width": 320, "height": 640})
    reader.goto(reader.site + (lead.get_absolute_url() if path == "story" else path))
    assert_no_horizontal_scroll(reader)
    assert_clean(reader)


def test_the_problem_recorder_sees_a_missing_page_and_a_broken_image(reader, newsroom):
    """assert_clean fails when something goes wrong: otherwise the tests above would prove nothing."""
    reader.goto(reader.site + "/no-such-page/")
    reader.evaluate("document.body.append(Object.assign(new Image(), {src: '/media/missing.jpg'}))")
    reader.wait_for_timeout(500)
    problems = reader.problems.problems
    assert any("HTTP 404" in p and "/no-such-page/" in p for p in problems)
    assert any("/media/missing.jpg" in p for p in problems)


def test_browsers_asking_for_favicon_ico_get_the_icon(reader, newsroom):
    response = reader.goto(reader.site + "/favicon.ico")
    assert response.ok and response.headers["content-type"].startswith("image/")
    assert_clean(reader)


# The same flows with the keyboard alone: Tab to a control (its focus ring visible at every stop),
# Enter to use it.


def test_the_skip_link_is_the_first_stop_and_jumps_to_the_content(reader, newsroom):
    reader.goto(reader.site + "/")
    skip = tab_to(reader, "a.skip-link", limit=1)
    box = skip.bounding_box()
    assert box["y"] >= 0 and box["height"] > 10  # shown on screen once focused
    reader.keyboard.press("Enter")
    assert reader.evaluate("document.activeElement.id") == "main"
    # The next Tab goes into the content, past the header's links and search.
    tab_to(reader, "main a", limit=1)
    assert_clean(reader)


def test_keyboard_front_page_to_the_lead_story(reader, newsroom):
    lead, _ = newsroom
    reader.goto(reader.site + "/")
    tab_to(reader, "main a", text=lead.title)
    reader.keyboard.press("Enter")
    reader.wait_for_url(f"**{lead.get_absolute_url()}")
    assert reader.get_by_role("heading", level=1).inner_text() == lead.title
    assert_clean(reader)


def test_keyboard_story_to_a_tag_page(reader, newsroom):
    lead, _ = newsroom
    reader.goto(reader.site + lead.get_absolute_url())
    tab_to(reader, "main a", text="Manufacturing")
    reader.keyboard.press("Enter")
    reader.wait_for_url("**/tags/manufacturing/")
    assert_clean(reader)


def test_keyboard_tag_pagination(reader, newsroom):
    _, tag = newsroom
    reader.goto(reader.site + tag.get_absolute_url())
    tab_to(reader, ".pagination a", text="Older →")
    reader.keyboard.press("Enter")
    reader.wait_for_url("**?page=2")
    tab_to(reader, ".pagination a", text="← Newer")
    reader.keyboard.press("Enter")
    reader.wait_for_url("**?page=1")
    assert_clean(reader)


def test_keyboard_search(reader, newsroom):
    lead, _ = newsroom
    reader.goto(reader.site + "/")
    tab_to(reader, "input[type=search]")
    reader.keyboard.type("quantum foundry")
    reader.keyboard.press("Enter")
    reader.wait_for_url("**/search/?q=quantum+foundry")
    tab_to(reader, "main a", text=lead.title)
    assert_clean(reader)


def test_tab_to_fails_where_focus_cannot_be_seen(reader, newsroom):
    """The focus check can fail: with the focus ring taken away, the first Tab is caught."""
    reader.goto(reader.site + "/")
    reader.evaluate("document.styleSheets[0].insertRule('*:focus { outline: none !important }')")
    with pytest.raises(AssertionError, match="<a class=skip-link> Skip to content: no visible focus"):
        tab_to(reader, "main a")
