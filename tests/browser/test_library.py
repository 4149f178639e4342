"""The image library in Chromium: an editor inserts a library picture into a body and publishes with
the keyboard alone; readers reach every picture of a gallery by keyboard, and nothing shifts."""

import pytest
from playwright.sync_api import expect

from articles.models import Article
from tests.browser.conftest import (
    BROWSER_DB,
    assert_clean,
    assert_no_horizontal_scroll,
    sign_in_with_keyboard,
    tab_to,
)
from tests.factories import ArticleFactory, AuthorFactory, SectionFactory, TagFactory, library_image

pytestmark = BROWSER_DB


def test_an_editor_inserts_a_library_picture_and_publishes_with_the_keyboard_alone(reader, editor):
    picture = library_image(alt="The heat spreader, face down", credit="Ada Brooks")
    library_image(alt="Keynote stage", credit="Wire")
    draft = ArticleFactory(
        title="Inside the Q3",
        body="We took the card apart.",
        status=Article.Status.DRAFT,
        published_at=None,
        section=SectionFactory(name="Hardware", slug="hardware"),
        authors=[AuthorFactory(name="Mira Okafor", slug="mira-okafor")],
        tags=[TagFactory(name="Chips", slug="chips")],
    )
    keys = reader.keyboard
    sign_in_with_keyboard(reader)
    reader.goto(reader.site + f"/admin/articles/article/{draft.pk}/change/")
    # Past the navigation sidebar, as a keyboard user does: the admin's "Skip to main content" link.
    tab_to(reader, "a.skip-to-content-link")
    keys.press("Enter")

    tab_to(reader, "#id_body")
    keys.press("Control+End")  # the picture goes after the text
    keys.press("Shift+Tab")  # back to "Insert image", just before the field
    assert reader.evaluate("document.activeElement.textContent") == "Insert image"
    keys.press("Enter")
    assert reader.evaluate("document.activeElement.id") == "image-picker-search"
    keys.type("heat spreader")
    expect(reader.locator(".image-picker__choice")).to_have_count(1)
    expect(reader.locator(".image-picker__choice")).to_contain_text("The heat spreader")
    tab_to(reader, "#image-picker-layout", limit=2)
    keys.press("ArrowDown")  # "Wide"
    tab_to(reader, ".image-picker__choice", limit=2)
    keys.press("Enter")
    assert reader.evaluate("document.activeElement.id") == "id_body"  # back where the editor was
    body = reader.locator("#id_body").input_value()
    line = f"![The heat spreader, face down](image:{picture.pk}){{.wide}}"
    assert body == f"We took the card apart.\n\n{line}\n"
    # The preview beside the body shows the figure as readers will see it.
    reader.locator(".markdown-preview__body figure img").wait_for()

    tab_to(reader, "#id_status")
    keys.type("Published")
    tab_to(reader, "input[type=submit]", text="Save")
    with reader.expect_navigation():
        keys.press("Enter")
    assert "was changed successfully" in reader.locator(".messagelist").inner_text()
    draft.refresh_from_db()
    assert draft.is_live
    assert list(draft.figures.all()) == [picture]
    reader.goto(reader.site + draft.get_absolute_url())
    figure = reader.locator("figure.figure--wide img[alt='The heat spreader, face down']")
    figure.scroll_into_view_if_needed()
    assert figure.evaluate("img => img.complete && img.naturalWidth > 0")
    assert_clean(reader)


def test_escape_closes_the_picker_and_changes_nothing(reader, editor):
    library_image(alt="Keynote stage")
    draft = ArticleFactory(body="Text.", status=Article.Status.DRAFT, published_at=None)
    sign_in_with_keyboard(reader)
    reader.goto(reader.site + f"/admin/articles/article/{draft.pk}/change/")
    reader.get_by_role("button", name="Insert image").click()
    reader.locator(".image-picker__choice").first.wait_for()
    reader.keyboard.press("Escape")
    assert not reader.locator("#image-picker").evaluate("dialog => dialog.open")
    assert reader.evaluate("document.activeElement.textContent") == "Insert image"  # where it was opened
    assert reader.locator("#id_body").input_value() == "Text."


@pytest.mark.parametrize("width", [375, 1280])
def test_every_gallery_picture_is_reachable_by_keyboard_and_nothing_shifts(reader, width):
    pictures = [library_image(alt=f"Board part {n}") for n in range(6)]
    gallery = "\n".join(f"![](image:{p.pk})" for p in pictures)
    article = ArticleFactory(body=f"Intro.\n\n{gallery}\n\nEnd.")
    reader.set_viewport_size({"width": width, "height": 800})
    reader.add_init_script(
        """window.__shift = 0;
        new PerformanceObserver(list => {
            for (const e of list.getEntries()) if (!e.hadRecentInput) window.__shift += e.value;
        }).observe({type: "layout-shift", buffered: true});"""
    )
    reader.goto(reader.site + article.get_absolute_url())
    for n in range(6):
        tab_to(reader, f".gallery a:has(img[alt='Board part {n}'])")
        box = reader.locator(":focus").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width + 1, f"picture {n} focused off screen"
    reader.wait_for_timeout(300)
    assert reader.evaluate("window.__shift") == 0
    assert_no_horizontal_scroll(reader)
    assert_clean(reader)
