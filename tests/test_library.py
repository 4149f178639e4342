"""The image library in the admin: uploads (one and many), search, the picker, focal points, "used in",
who may change what, and deleting."""

import io

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from PIL import Image as PILImage

from articles import images
from articles.models import Article, Image
from tests.factories import ArticleFactory, jpeg_upload, library_image
from tests.test_roles import make_user

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:articles_image_add")
UPLOAD_URL = reverse("admin:articles_image_upload")
PICKER_URL = reverse("admin:articles_image_picker")
CHANGELIST = reverse("admin:articles_image_changelist")


def png_upload(name="chart.png", size=(900, 600)):
    buffer = io.BytesIO()
    PILImage.new("RGBA", size, (10, 200, 90, 255)).save(buffer, "PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def test_an_upload_becomes_a_library_image_with_renditions_in_every_format(editor_client, editor):
    response = editor_client.post(
        ADD_URL,
        {
            "file": jpeg_upload("Teardown Board (final).JPG", size=(1800, 1000)),
            "alt": "The bare board",
            "caption": "",
            "credit": "Ada Brooks",
            "focal_x": "0.3",
            "focal_y": "0.6",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    image = Image.objects.get()
    assert image.original_filename == "Teardown Board (final).JPG"
    assert image.file.name.startswith("library/") and image.file.name.endswith("teardown-board-final.jpg")
    assert (image.width, image.height) == (1800, 1000)
    assert image.uploaded_by == editor
    assert [size["width"] for size in image.renditions["sizes"]] == [480, 800, 1200, 1600]
    for size in image.renditions["sizes"]:
        for kind in images.RENDITION_FORMATS:
            assert default_storage.exists(size[kind])
    if "avif" in images.RENDITION_FORMATS:
        with default_storage.open(image.renditions["sizes"][0]["avif"]) as fh:
            assert PILImage.open(fh).format == "AVIF"


@pytest.mark.parametrize("missing", ["alt", "credit"])
def test_alt_text_and_credit_are_required(editor_client, missing):
    data = {"file": jpeg_upload(), "alt": "A board", "credit": "Ada Brooks", "focal_x": "0.5"}
    data["focal_y"] = "0.5"
    data[missing] = "  "
    response = editor_client.post(ADD_URL, data)
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not Image.objects.exists()


def test_a_hostile_upload_gets_a_form_error_and_stores_nothing(editor_client):
    response = editor_client.post(
        ADD_URL,
        {
            "file": SimpleUploadedFile("evil.svg", b"<svg onload=alert(1)>", content_type="image/svg+xml"),
            "alt": "x",
            "credit": "y",
            "focal_x": "0.5",
            "focal_y": "0.5",
        },
    )
    assert response.status_code == 200
    assert "is not a JPEG, PNG, WebP or GIF image" in response.content.decode()
    assert not Image.objects.exists()


@pytest.mark.parametrize("value", ["1.5", "-0.1", "nan", "abc"])
def test_a_focal_point_outside_the_picture_is_refused(editor_client, value):
    data = {"file": jpeg_upload(), "alt": "A", "credit": "B", "focal_x": value, "focal_y": "0.5"}
    response = editor_client.post(ADD_URL, data)
    assert response.status_code == 200
    assert not Image.objects.exists()


def test_many_images_at_once_each_with_its_alt_text(editor_client):
    response = editor_client.post(
        UPLOAD_URL,
        {
            "files": [jpeg_upload("one.jpg"), png_upload("two.png")],
            "alts": "The lid\n\n  The heat pipes  \n",
            "credit": "Ada Brooks",
            "caption": "Teardown",
        },
    )
    assert response.status_code == 302
    made = {image.original_filename: image for image in Image.objects.all()}
    assert made["one.jpg"].alt == "The lid"
    assert made["two.png"].alt == "The heat pipes"
    assert {image.credit for image in made.values()} == {"Ada Brooks"}
    assert all(image.renditions["sizes"] for image in made.values())


def test_many_images_need_one_line_of_alt_text_each(editor_client):
    response = editor_client.post(
        UPLOAD_URL,
        {"files": [jpeg_upload("one.jpg"), jpeg_upload("two.jpg")], "alts": "Only one", "credit": "A"},
    )
    assert response.status_code == 200
    assert "2 images and 1 line of alt text: write one line for each image." in response.content.decode()
    assert not Image.objects.exists()


def test_one_bad_file_in_a_batch_is_named_and_nothing_is_stored(editor_client):
    before = set(_stored_files())
    response = editor_client.post(
        UPLOAD_URL,
        {
            "files": [jpeg_upload("good.jpg"), SimpleUploadedFile("bad.jpg", b"\xff\xd8\xffnot really")],
            "alts": "Good\nBad",
            "credit": "A",
        },
    )
    assert response.status_code == 200
    assert "bad.jpg: This file is not a JPEG, PNG, WebP or GIF image." in response.content.decode()
    assert not Image.objects.exists()
    assert set(_stored_files()) == before


def _stored_files():
    found = []
    try:
        folders, files = default_storage.listdir("library")
    except FileNotFoundError:
        return found
    stack = [f"library/{folder}" for folder in folders]
    found += files
    while stack:
        folder = stack.pop()
        sub, files = default_storage.listdir(folder)
        stack += [f"{folder}/{name}" for name in sub]
        found += [f"{folder}/{name}" for name in files]
    return found


def test_the_library_is_searched_by_alt_caption_credit_and_file_name(editor_client):
    library_image(alt="Heat sink", credit="Ada Brooks", caption="Copper fins")
    library_image(alt="Keynote stage", credit="Wire photo", original_filename="DSC_0042.jpg")
    for query, expected in [("copper", "Heat sink"), ("brooks", "Heat sink"), ("DSC_0042", "Keynote stage")]:
        page = editor_client.get(CHANGELIST, {"q": query}).content.decode()
        assert expected in page
        assert {"Heat sink", "Keynote stage"} - {expected} <= {
            name for name in ("Heat sink", "Keynote stage") if name not in page
        }


def test_the_picker_answers_with_thumbnails_and_the_line_to_insert(editor_client):
    image = library_image(alt="A [bracketed] board", credit="Ada Brooks")
    library_image(alt="Something else")
    data = editor_client.get(PICKER_URL, {"q": "bracketed board"}).json()
    assert [result["id"] for result in data["results"]] == [image.pk]
    result = data["results"][0]
    assert result["markdown"] == f"![A (bracketed) board](image:{image.pk})"
    assert result["thumbnail"] == image.thumbnail_url
    assert (result["width"], result["height"]) == (image.width, image.height)


def test_the_picker_is_for_the_newsroom_only(client):
    response = client.get(PICKER_URL)
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_an_image_lists_the_stories_that_use_it(editor_client):
    image = library_image()
    hero_of = ArticleFactory(title="Hero story", hero=image)
    figure_in = ArticleFactory(title="Figure story", body=f"![](image:{image.pk})")
    page = editor_client.get(reverse("admin:articles_image_change", args=[image.pk])).content.decode()
    for article in (hero_of, figure_in):
        assert reverse("admin:articles_article_change", args=[article.pk]) in page
    assert f"![A blue test card](image:{image.pk})" in page  # the line to paste, without the picker


def test_an_image_of_a_published_story_cannot_be_deleted_and_the_admin_says_which(editor_client):
    image = library_image()
    story = ArticleFactory(title="The live teardown", body=f"![](image:{image.pk})")
    url = reverse("admin:articles_image_delete", args=[image.pk])
    page = editor_client.get(url).content.decode()
    assert "The live teardown" in page
    assert "is used by the published story" in page
    response = editor_client.post(url, {"post": "yes"})
    assert response.status_code in (200, 403)
    assert Image.objects.filter(pk=image.pk).exists()
    bulk = editor_client.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": [image.pk], "post": "yes"}
    )
    assert bulk.status_code in (200, 403)
    assert Image.objects.filter(pk=image.pk).exists()
    assert story.figures.filter(pk=image.pk).exists()


def test_an_image_only_a_draft_uses_can_be_deleted_and_the_draft_loses_its_hero(editor_client):
    image = library_image()
    draft = ArticleFactory(status=Article.Status.DRAFT, hero=image)
    response = editor_client.post(reverse("admin:articles_image_delete", args=[image.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not Image.objects.filter(pk=image.pk).exists()
    draft.refresh_from_db()
    assert draft.hero is None


def test_writers_add_images_but_only_editors_change_what_a_published_story_shows(django_user_model, client):
    writer = make_user(django_user_model, "writer")
    client.force_login(writer)
    response = client.post(
        ADD_URL, {"file": jpeg_upload(), "alt": "Mine", "credit": "Me", "focal_x": "0.5", "focal_y": "0.5"}
    )
    assert response.status_code == 302
    own = Image.objects.get(alt="Mine")
    published = library_image(alt="On the front page")
    ArticleFactory(hero=published)
    change = {"alt": "Defaced", "credit": "Me", "caption": "", "focal_x": "0.5", "focal_y": "0.5"}
    client.post(reverse("admin:articles_image_change", args=[published.pk]), change)
    published.refresh_from_db()
    assert published.alt == "On the front page"
    response = client.post(reverse("admin:articles_image_change", args=[own.pk]), {**change, "alt": "Better"})
    assert response.status_code == 302
    own.refresh_from_db()
    assert own.alt == "Better"
    delete = client.post(reverse("admin:articles_image_delete", args=[own.pk]), {"post": "yes"})
    assert delete.status_code == 403


def test_the_article_form_picks_its_hero_from_the_library(editor_client):
    from tests.test_roles import change_data

    image = library_image(alt="Chosen hero")
    article = ArticleFactory(status=Article.Status.DRAFT)
    data = change_data(article, hero=str(image.pk))
    response = editor_client.post(reverse("admin:articles_article_change", args=[article.pk]), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    article.refresh_from_db()
    assert article.hero == image
    page = editor_client.get(reverse("admin:articles_article_change", args=[article.pk])).content.decode()
    assert 'class="hero-preview"' in page and 'alt="Chosen hero"' in page
    assert 'id="image-picker"' in page


def test_refresh_images_adds_missing_formats_and_keeps_every_old_address():
    image = library_image()
    old = {size["width"]: (size["webp"], size["jpeg"]) for size in image.renditions["sizes"]}
    for size in image.renditions["sizes"]:
        if "avif" in size:
            default_storage.delete(size.pop("avif"))
    Image.objects.filter(pk=image.pk).update(renditions=image.renditions)
    call_command("refresh_images", stdout=io.StringIO())
    image.refresh_from_db()
    assert {size["width"]: (size["webp"], size["jpeg"]) for size in image.renditions["sizes"]} == old
    if "avif" in images.RENDITION_FORMATS:
        assert all(default_storage.exists(size["avif"]) for size in image.renditions["sizes"])
        assert image.avif_srcset
