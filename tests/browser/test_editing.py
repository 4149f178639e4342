"""An editor in Chromium: signs in to the admin, adds pictures to the library, writes a story with one
of them as its hero, publishes it."""

from articles.models import Article, Image
from tests.browser.conftest import BROWSER_DB, assert_clean, sign_in_with_keyboard, tab_to
from tests.factories import AuthorFactory, SectionFactory, jpeg_upload, library_image

pytestmark = BROWSER_DB


def choose(page, field_id, text):
    """Pick ``text`` in one of the admin's autocomplete (select2) fields, as a person does."""
    widget = page.locator(f"#{field_id} + .select2")
    widget.click()
    # A single choice searches in the open dropdown; a multiple one in a box inside the widget itself.
    inline = widget.locator(".select2-search__field")
    (inline if inline.count() else page.locator(".select2-dropdown .select2-search__field")).fill(text)
    page.locator(".select2-results__option", has_text=text).click()


def field(page, label):
    # The admin's labels end with a colon; exact, so "Title" is not also "SEO title".
    return page.get_by_label(f"{label}:", exact=True)


def test_an_editor_uploads_pictures_to_the_library_and_publishes_one_as_hero(reader, editor, tmp_path):
    SectionFactory(name="Chips", slug="chips")
    AuthorFactory(name="Ada Reporter", slug="ada-reporter")
    pictures = [tmp_path / "foundry.jpg", tmp_path / "wafer.jpg"]
    for picture in pictures:
        picture.write_bytes(jpeg_upload().read())

    reader.goto(reader.site + "/admin/")
    reader.get_by_label("Username").fill("editor")
    reader.get_by_label("Password").fill("correct horse battery")
    reader.get_by_role("button", name="Log in").click()

    # Many at once: each chosen file gets its own alt text field, filled in the order listed.
    reader.goto(reader.site + "/admin/articles/image/upload/")
    reader.locator("input[type=file]").set_input_files(pictures)
    reader.get_by_label("Alt text for foundry.jpg").fill("The foundry at dawn")
    reader.get_by_label("Alt text for wafer.jpg").fill("A wafer under light")
    field(reader, "Credit").fill("Agency photo")
    reader.get_by_role("button", name="Add to the library").click()
    assert "Added 2 images to the library." in reader.locator(".messagelist").inner_text()
    assert sorted(Image.objects.values_list("alt", flat=True)) == [
        "A wafer under light",
        "The foundry at dawn",
    ]

    reader.goto(reader.site + "/admin/")
    reader.get_by_role("link", name="Articles", exact=True).first.click()
    reader.get_by_role("link", name="Add article").click()

    field(reader, "Title").fill("Quantum foundry opens in Ohio")
    field(reader, "Title").press("Tab")
    assert field(reader, "Slug").input_value() == "quantum-foundry-opens-in-ohio"  # filled as you type
    field(reader, "Standfirst").fill("The plant will make chips for data centres.")
    field(reader, "Body").fill("The plant opened today.\n\n## Why it matters\n\nIt makes **chips**.")
    # The preview beside the body shows the page's own rendering.
    assert reader.locator(".markdown-preview__body strong").inner_text(timeout=5000) == "chips"
    choose(reader, "id_hero", "The foundry at dawn")
    choose(reader, "id_section", "Chips")
    choose(reader, "id_authors", "Ada Reporter")
    field(reader, "Tags").fill("Semiconductors, Manufacturing")
    field(reader, "Status").select_option("published")
    reader.get_by_role("button", name="Save", exact=True).first.click()

    assert "was added successfully" in reader.locator(".messagelist").inner_text()
    article = Article.objects.get(slug="quantum-foundry-opens-in-ohio")
    assert article.is_live and article.hero.alt == "The foundry at dawn"
    reader.goto(reader.site + article.get_absolute_url())
    assert reader.get_by_role("heading", level=1).inner_text() == "Quantum foundry opens in Ohio"
    hero = reader.locator("img[alt='The foundry at dawn']")
    assert hero.evaluate("img => img.complete && img.naturalWidth > 0")
    assert_clean(reader)


def test_an_editor_publishes_with_the_keyboard_alone(reader, editor):
    SectionFactory(name="Chips", slug="chips")
    AuthorFactory(name="Ada Reporter", slug="ada-reporter")
    hero = library_image(alt="The foundry at dawn", credit="Agency photo")
    keys = reader.keyboard

    sign_in_with_keyboard(reader)
    tab_to(reader, "a[href$='/admin/articles/article/add/']")
    keys.press("Enter")
    reader.wait_for_url(reader.site + "/admin/articles/article/add/")

    tab_to(reader, "#id_title")
    keys.type("Quantum foundry opens in Ohio")
    tab_to(reader, "#id_standfirst")
    keys.type("The plant will make chips for data centres.")
    tab_to(reader, "#id_body")
    keys.type("The plant opened today. It makes **chips**.")
    tab_to(reader, "#id_hero + .select2 .select2-selection")
    keys.press("Enter")
    keys.type("foundry")
    reader.locator(".select2-results__option--highlighted", has_text="The foundry at dawn").wait_for()
    keys.press("Enter")
    # The autocomplete fields: open with Enter, type to search, Enter to take the match.
    tab_to(reader, "#id_section + .select2 .select2-selection")
    keys.press("Enter")
    keys.type("Chi")
    reader.locator(".select2-results__option--highlighted", has_text="Chips").wait_for()
    keys.press("Enter")
    tab_to(reader, "#id_authors + .select2 .select2-search__field")
    keys.type("Ada")
    reader.locator(".select2-results__option--highlighted", has_text="Ada Reporter").wait_for()
    keys.press("Enter")
    tab_to(reader, "#id_tags")
    keys.type("Semiconductors")
    tab_to(reader, "#id_status")
    keys.type("Published")  # a closed select takes the option whose label is typed
    tab_to(reader, "input[type=submit]", text="Save")
    with reader.expect_navigation():
        keys.press("Enter")

    assert "was added successfully" in reader.locator(".messagelist").inner_text()
    article = Article.objects.get(slug="quantum-foundry-opens-in-ohio")
    assert article.is_live and article.hero == hero
    assert article.section.name == "Chips" and [a.name for a in article.authors.all()] == ["Ada Reporter"]
    assert [t.name for t in article.tags.all()] == ["Semiconductors"]
    assert_clean(reader)
