import datetime
import hashlib
import inspect

import pytest
from django.utils import timezone

from articles import images
from articles.models import Article
from tests.factories import (
    ArticleFactory,
    AuthorFactory,
    SectionFactory,
    TagFactory,
    library_image,
)

SEED_SLUG = "openai-foxconn-collaboration-ai-supply-chain-us-data-center-components"

# The fixtures the hostile-input tests of every surface share (tests/test_hostile_*.py), and the fake
# embed providers (tests/test_embeds.py); none is autouse.
pytest_plugins = ["tests.support.hostile_requests", "tests.support.fake_providers"]


@pytest.fixture(autouse=True, scope="session")
def pictures_encoded_once():
    """Each picture the suite writes is encoded once per test process, however many tests write it.

    A dozen tests load the demo, whose eighteen pictures each take ~2 s to encode in every rendition
    (AVIF is most of it), and factories write the same test cards again and again. The same pixels,
    metadata, format and options give the same bytes, so later writes reuse them; everything else
    about writing a picture (resizing, storage, the index) still runs every time.
    """
    encoded = {}
    encode = images._encode

    def encode_once(im, fmt="JPEG", quality=None):
        pixels = hashlib.blake2b(im.tobytes()).digest()
        options = repr(images._encode_options(fmt))  # as it is now: a test may change the options
        key = (fmt, quality, options, im.mode, im.size, repr(sorted(im.info.items())), pixels)
        if key not in encoded:
            encoded[key] = encode(im, fmt, quality)
        return encoded[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(images, "_encode", encode_once)
        yield


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with an empty cache, as the Redis run shares one server between tests."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def forked_children_measured_cheaply():
    """Under `make test`, faster forks for the children that format bodies and decode uploads.

    Coverage starts a measurement in each child (concurrency = multiprocessing), and its collector
    records where it started with inspect.stack(), which resolves the file of every loaded module the
    first time a process asks (inspect.getmodule's cache): paid again by each fork of a parent that
    never asked. Asking here, in the parent, fills the cache the children inherit: ~127 ms a child
    becomes ~50 ms. The parent's cost after the first test is under a millisecond.
    """
    inspect.getmodule(compile("", "<no module: makes inspect index the loaded ones>", "exec"))


@pytest.fixture(autouse=True)
def page_cache_warnings_let_through():
    """Each test sees the page cache's first warning of each kind, whatever earlier tests logged."""
    from conclave import pagecache

    pagecache.failure_log.reset()


@pytest.fixture
def no_page_cache(settings):
    """For tests that measure what a view costs: every request reaches the view."""
    settings.PAGE_CACHE_SECONDS = 0


@pytest.fixture
def newsroom(db):
    """Three live stories in one section, by one author, under one tag; plus a draft, a scheduled
    story, and a live story elsewhere (another section, author and tag), published earliest."""
    section = SectionFactory(name="Chips", slug="chips")
    author = AuthorFactory(name="Ada Reporter", slug="ada-reporter")
    tag = TagFactory(name="Semiconductors", slug="semiconductors")
    now = timezone.now()
    common = {"section": section, "authors": [author], "tags": [tag]}
    live = [
        ArticleFactory(title=f"Live story {i}", published_at=now - datetime.timedelta(hours=i + 1), **common)
        for i in range(3)
    ]
    ArticleFactory(title="Draft story", status="draft", **common)
    ArticleFactory(title="Future story", published_at=now + datetime.timedelta(hours=1), **common)
    ArticleFactory(
        title="Elsewhere story",
        section=SectionFactory(name="Phones", slug="phones"),
        authors=[AuthorFactory(name="Bo Writer", slug="bo-writer")],
        tags=[TagFactory(name="Android", slug="android")],
        published_at=now - datetime.timedelta(hours=10),
    )
    return section, author, tag, live


@pytest.fixture
def editor(django_user_model):
    return django_user_model.objects.create_user(
        "editor", "editor@example.com", "correct horse battery", is_staff=True, is_superuser=True
    )


@pytest.fixture
def editor_client(client, editor):
    client.force_login(editor)
    return client


@pytest.fixture
def article_with_image(db):
    article = ArticleFactory(hero=library_image(alt="A blue test card"))
    return Article.objects.get(pk=article.pk)


__all__ = ["ArticleFactory", "AuthorFactory", "SectionFactory", "TagFactory", "SEED_SLUG"]
