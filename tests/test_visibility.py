"""One sweep: drafts and scheduled stories appear on no public page, feed, sitemap or search."""

import datetime

import pytest
from django.utils import timezone

from tests.factories import ArticleFactory, AuthorFactory, SectionFactory, TagFactory

HIDDEN_WORD = "Zanzibarquux"


@pytest.fixture
def hidden_and_live(db):
    section, author, tag = SectionFactory(slug="chips"), AuthorFactory(slug="ada"), TagFactory(slug="ai")
    common = {"section": section, "authors": [author], "tags": [tag]}
    now = timezone.now()
    live = ArticleFactory(
        title="Visible story", slug="visible-story", published_at=now - datetime.timedelta(hours=2), **common
    )
    hidden = [
        ArticleFactory(title=f"{HIDDEN_WORD} draft", slug="hidden-draft", status="draft", **common),
        ArticleFactory(
            title=f"{HIDDEN_WORD} scheduled",
            slug="hidden-scheduled",
            published_at=now + datetime.timedelta(hours=3),
            **common,
        ),
        ArticleFactory(
            title=f"{HIDDEN_WORD} old draft",
            slug="hidden-old-draft",
            status="draft",
            published_at=now - datetime.timedelta(days=1),
            **common,
        ),
    ]
    return live, hidden


PUBLIC_URLS = [
    "/",
    "/tags/",
    "/tags/ai/",
    "/sections/chips/",
    "/authors/ada/",
    "/archive/{month}/",
    "/search/?q=scheduled",
    "/search/?q=story",
    "/feed/",
    "/feed/atom/",
    "/tags/ai/feed/",
    "/tags/ai/feed/atom/",
    "/sections/chips/feed/",
    "/sections/chips/feed/atom/",
    "/authors/ada/feed/",
    "/authors/ada/feed/atom/",
    "/sitemap.xml",
    "/sitemap-articles.xml",
    "/sitemap-tags.xml",
    "/news-sitemap.xml",
    "/news/visible-story/",
]


def test_hidden_stories_appear_nowhere_public(client, hidden_and_live):
    live, hidden = hidden_and_live
    month = f"{live.published_at:%Y/%m}"
    without_live = set()
    for url in PUBLIC_URLS:
        response = client.get(url.format(month=month))
        assert response.status_code == 200, url
        content = response.content.decode()
        if not url.startswith("/search/"):  # a search page repeats the words searched for
            assert HIDDEN_WORD not in content, url
        for article in hidden:
            assert article.slug not in content, url
        if "visible-story" not in content:
            without_live.add(url)
    # The live story is everywhere but in indexes of other things and a search that matches only hidden ones.
    assert without_live == {"/tags/", "/search/?q=scheduled", "/sitemap.xml", "/sitemap-tags.xml"}
    for article in hidden:
        assert client.get(article.get_absolute_url()).status_code == 404
