"""Migrations 0012-0014: a database from before the image library keeps every hero, file and address."""

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from articles import images
from tests.factories import jpeg_upload

BEFORE = [("articles", "0011_subscriber_link_key_unique")]
AFTER = [("articles", "0014_remove_hero_columns")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()  # the graph as it is now, after any earlier migrate
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def migrate_to_latest():
    """Every app at its newest migration, as the tests after these expect (later tables included)."""
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


@pytest.fixture
def old_schema(transactional_db):
    """The apps registry of the schema before the library; the database is put back afterwards."""
    apps = migrate(BEFORE)
    yield apps
    migrate_to_latest()


def stored_hero(name):
    """A hero as today's main stored it: the prepared file and its renditions, side by side."""
    prepared = images.prepare_upload(jpeg_upload(name)).content
    stored = default_storage.save(f"articles/2025/11/{name}", prepared)
    return stored, images.write_renditions(stored, default_storage)


def old_article(Article, slug, hero_image, hero_renditions, **fields):
    """A story as the schema before the library stored it: the hero's file and texts on the row."""
    return Article.objects.create(
        title=slug.title(),
        slug=slug,
        body="Text.",
        hero_image=hero_image,
        hero_renditions=hero_renditions,
        **fields,
    )


def test_every_hero_moves_into_the_library_with_its_file_text_and_addresses(old_schema):
    Article = old_schema.get_model("articles", "Article")
    shared_name, shared_renditions = stored_hero("racks.jpg")
    own_name, own_renditions = stored_hero("fab.jpg")
    racks = {"hero_alt": "Server racks", "hero_caption": "Racks in Ohio", "hero_credit": "Ada Brooks"}
    first = old_article(Article, "one", shared_name, shared_renditions, **racks)
    second = old_article(Article, "two", shared_name, shared_renditions, **racks)
    third = old_article(
        Article,
        "three",
        own_name,
        own_renditions,
        hero_alt="A fab",
        hero_caption="",
        hero_credit="",  # a draft's hero could lack a credit: kept as it was, the checklist asks for it
    )
    without = Article.objects.create(title="Four", slug="four", body="Text.")

    apps = migrate(AFTER)
    Article = apps.get_model("articles", "Article")
    Image = apps.get_model("articles", "Image")
    assert Image.objects.count() == 2  # stories that shared a file share one image
    one, two, three, four = (Article.objects.get(pk=a.pk) for a in (first, second, third, without))
    assert one.hero_id == two.hero_id != three.hero_id
    assert four.hero_id is None
    shared = Image.objects.get(pk=one.hero_id)
    assert shared.file.name == shared_name
    assert shared.renditions == shared_renditions
    assert (shared.alt, shared.caption, shared.credit) == ("Server racks", "Racks in Ohio", "Ada Brooks")
    assert (shared.width, shared.height) == (shared_renditions["width"], shared_renditions["height"])
    own = Image.objects.get(pk=three.hero_id)
    assert (own.file.name, own.alt, own.caption, own.credit) == (own_name, "A fab", "", "")
    # Nothing was moved or renamed: every rendition address handed out before still answers.
    for renditions in (shared_renditions, own_renditions):
        for name in [renditions["source"], *images.rendition_names(renditions)]:
            assert default_storage.exists(name)


def test_the_old_rendition_urls_are_the_ones_the_page_shows(old_schema, client):
    Article = old_schema.get_model("articles", "Article")
    name, renditions = stored_hero("keynote.jpg")
    live = {"status": "published", "published_at": "2025-11-21T09:00:00Z"}
    old_article(Article, "keynote", name, renditions, hero_alt="The stage", hero_credit="Wire", **live)
    migrate_to_latest()  # the page's models are today's
    page = client.get("/news/keynote/").content.decode()
    for size in renditions["sizes"]:
        assert default_storage.url(size["webp"]) in page
        assert default_storage.url(size["jpeg"]) in page
    assert 'alt="The stage"' in page


def test_the_migration_runs_backwards_too(old_schema):
    Article = old_schema.get_model("articles", "Article")
    name, renditions = stored_hero("back.jpg")
    texts = {"hero_alt": "Alt", "hero_caption": "Caption", "hero_credit": "Credit"}
    article = old_article(Article, "back", name, renditions, **texts)
    migrate(AFTER)
    apps = migrate(BEFORE)
    restored = apps.get_model("articles", "Article").objects.get(pk=article.pk)
    assert (restored.hero_image.name, restored.hero_alt, restored.hero_caption, restored.hero_credit) == (
        name,
        "Alt",
        "Caption",
        "Credit",
    )
    assert restored.hero_renditions == renditions
