"""Every kind of change against every kind of page: exactly the pages that show a change are purged,
and every other page stays a hit (articles/cachekeys.py).

The expectations below are written from what each page shows a reader, page by page, not from the
table in cachekeys.py: a page missing from a change's set fails as "not purged" (a stale page), a page
in it by mistake as "purged" (a needless miss).
"""

import datetime
import re

import pytest
from django.core.cache import cache

from articles.models import Article, Author, Correction, Section, Tag
from tests.factories import ArticleFactory, AuthorFactory, SectionFactory, TagFactory, library_image

# Mid-month, mid-day: no story of the newsroom falls into another month.
NOW = datetime.datetime(2026, 11, 18, 12, 0, tzinfo=datetime.UTC)

PAGES = {
    "home": "/",
    "story": "/news/live-0/",  # the story every change below is made to (or to its draft sibling)
    "related story": "/news/live-1/",  # lists "story" in its related box
    "unrelated story": "/news/elsewhere/",
    "section": "/sections/chips/",
    "other section": "/sections/phones/",
    "author": "/authors/ada-reporter/",
    "other author": "/authors/bo-writer/",
    "topics": "/tags/",
    "tag": "/tags/semiconductors/",
    "other tag": "/tags/android/",
    "archive": "/archive/2026/11/",
    "search": "/search/?q=story",
    "feed": "/feed/",
    "tag feed": "/tags/semiconductors/feed/",
    "section feed": "/sections/chips/feed/",
    "author feed": "/authors/ada-reporter/feed/",
    "other section feed": "/sections/phones/feed/",
    "sitemap index": "/sitemap.xml",
    "article sitemap": "/sitemap-articles.xml",
    "news sitemap": "/news-sitemap.xml",
    "robots": "/robots.txt",
}
HTML_PAGES = {
    name for name, url in PAGES.items() if "feed" not in url and ".xml" not in url and ".txt" not in url
}
SITEMAPS = {"sitemap index", "article sitemap", "news sitemap"}
# Every feed that carries "story" whole (its text, tags and authors' names).
FEEDS_WITH_STORY = {"feed", "tag feed", "section feed", "author feed"}
# Every listing of the story's section, author, tag and month, the site's and search.
STORY_LISTINGS = {"home", "section", "author", "tag", "archive", "search"} | FEEDS_WITH_STORY | SITEMAPS


@pytest.fixture
def newsroom(db, time_machine):
    time_machine.move_to(NOW, tick=False)
    section = SectionFactory(name="Chips", slug="chips")
    author = AuthorFactory(name="Ada Reporter", slug="ada-reporter")
    tag = TagFactory(name="Semiconductors", slug="semiconductors")
    common = {"section": section, "authors": [author], "tags": [tag]}
    for i in range(3):
        ArticleFactory(
            title=f"Live story {i}",
            slug=f"live-{i}",
            published_at=NOW - datetime.timedelta(hours=i + 1),
            hero=library_image(alt=f"Picture {i}") if i == 0 else None,
            **common,
        )
    ArticleFactory(title="Draft story", slug="draft", status="draft", **common)
    ArticleFactory(
        title="Future story", slug="future", published_at=NOW + datetime.timedelta(days=3), **common
    )
    ArticleFactory(
        title="Elsewhere story",
        slug="elsewhere",
        section=SectionFactory(name="Phones", slug="phones"),
        authors=[AuthorFactory(name="Bo Writer", slug="bo-writer")],
        tags=[TagFactory(name="Android", slug="android")],
        published_at=NOW - datetime.timedelta(hours=10),
    )


def story():
    return Article.objects.get(slug="live-0")


def save(article, **changes):
    for name, value in changes.items():
        setattr(article, name, value)
    article.save()


def publish_the_draft():
    save(Article.objects.get(slug="draft"), status=Article.Status.PUBLISHED)


def schedule_the_draft():
    save(
        Article.objects.get(slug="draft"),
        status=Article.Status.PUBLISHED,
        published_at=NOW + datetime.timedelta(hours=2),
    )


def edit_the_draft():
    save(Article.objects.get(slug="draft"), title="A draft rewritten", body="New words.")


def edit_the_scheduled_story():
    save(Article.objects.get(slug="future"), body="New words, still to come.")


def rewrite_the_headline():
    save(story(), title="A rewritten headline")


def correct_the_body():
    save(story(), body="A corrected first paragraph.")


def unpublish():
    save(story(), status=Article.Status.DRAFT)


def delete():
    story().delete()


def note_a_correction():
    Correction.objects.create(article=story(), kind="correction", note="The plant opens in May.")


def rename_the_section():
    save(Section.objects.get(slug="chips"), name="Silicon")


def add_a_section():
    Section.objects.create(name="Space", slug="space", position=9)


def rename_the_author():
    save(Author.objects.get(slug="ada-reporter"), name="Ada Lovelace")


def rename_the_tag():
    save(Tag.objects.get(slug="semiconductors"), name="Chipmaking")


def tag_the_story():
    story().tags.add(Tag.objects.get(slug="android"))


def tag_the_scheduled_story():
    Article.objects.get(slug="future").tags.add(Tag.objects.get(slug="android"))


def add_a_byline_to_the_scheduled_story():
    Article.objects.get(slug="future").authors.add(Author.objects.get(slug="bo-writer"))


def add_a_byline():
    story().authors.add(Author.objects.get(slug="bo-writer"))


def change_the_hero_picture():
    picture = story().hero
    save(picture, alt="A new description of the picture")


CHANGES = [
    # A publish: the story's listings, never another story's page (their related boxes may lag).
    (publish_the_draft, STORY_LISTINGS | {"topics"}),
    # Scheduling: the listings it will enter, so that they are not kept past its time.
    (schedule_the_draft, STORY_LISTINGS | {"topics"}),
    (edit_the_draft, set()),
    (edit_the_scheduled_story, set()),
    # A headline shows wherever the story is listed, in a related box too; search finds its words.
    (rewrite_the_headline, STORY_LISTINGS | {"story", "related story"}),
    # A body shows on its page, in feeds and in search (and dates the sitemaps); no card changes.
    (correct_the_body, {"story", "search"} | FEEDS_WITH_STORY | SITEMAPS),
    (unpublish, STORY_LISTINGS | {"story", "related story", "topics"}),
    (delete, STORY_LISTINGS | {"story", "related story", "topics"}),
    (note_a_correction, {"story"} | FEEDS_WITH_STORY | SITEMAPS),
    # The navigation names every section: every HTML page; and its feed's title, and the sitemaps.
    (rename_the_section, HTML_PAGES | {"section feed"} | SITEMAPS),
    (add_a_section, HTML_PAGES | SITEMAPS),
    # Bylines on story pages and in feeds; cards name no author.
    (
        rename_the_author,
        {"story", "related story", "author", "author feed", "feed", "tag feed", "section feed"} | SITEMAPS,
    ),
    # Tags on story pages, as feed categories, on the topics index and the home page's busiest tags.
    (
        rename_the_tag,
        {"story", "related story", "home", "tag", "topics", "search"} | FEEDS_WITH_STORY | SITEMAPS,
    ),
    (tag_the_story, {"story", "home", "other tag", "topics", "search"} | FEEDS_WITH_STORY | SITEMAPS),
    (add_a_byline, {"story", "other author"} | FEEDS_WITH_STORY),
    # A scheduled story's listings-to-be, so that none is kept past its time.
    (tag_the_scheduled_story, {"other tag"}),
    (add_a_byline_to_the_scheduled_story, {"other author"}),
    # The hero shows on the story page, on its cards, in feeds and in the image sitemap.
    (change_the_hero_picture, STORY_LISTINGS | {"story", "related story"}),
]


@pytest.mark.parametrize(("change", "purged"), CHANGES, ids=[change.__name__ for change, _ in CHANGES])
def test_a_change_purges_exactly_the_pages_that_show_it(
    client, newsroom, change, purged, django_capture_on_commit_callbacks
):
    for name, url in PAGES.items():
        assert client.get(url).status_code == 200, name
        assert client.get(url)["X-Cache"] == "hit", f"{name} was not kept"
    with django_capture_on_commit_callbacks(execute=True):
        change()
    answers = {name: client.get(url) for name, url in PAGES.items()}
    outcome = {name: answer.get("X-Cache", "gone") for name, answer in answers.items()}
    assert {name for name, got in outcome.items() if got != "hit"} == purged, outcome
    # Remade from the parts the cache still holds (a story's rendered parts, teasers, related boxes,
    # navigation): each purged page must be the page made from nothing.
    remade = {name: answers[name].content.decode() for name in purged}
    cache.clear()
    made_afresh = {name: client.get(PAGES[name]).content.decode() for name in purged}
    assert [name for name in purged if not same_page(remade[name], made_afresh[name])] == []


RELATED_BOX = re.compile(r'<aside class="related".*?</aside>', re.S)


def same_page(remade, made_afresh):
    """The same page, but that a related box may still list the stories it chose before the change
    (cachekeys.RELATED_LAG_SECONDS): when both list the same stories, they must match to the byte."""
    boxes = RELATED_BOX.findall(remade), RELATED_BOX.findall(made_afresh)
    listed = [re.findall(r'class="teaser__title"><a href="([^"]+)"', "".join(box)) for box in boxes]
    if listed[0] != listed[1]:
        remade, made_afresh = RELATED_BOX.sub("", remade), RELATED_BOX.sub("", made_afresh)
    return remade == made_afresh
