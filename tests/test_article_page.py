"""The News Details page as a reader, a search engine and a staff member see it."""

import io
import json
import re
from pathlib import Path

import html5lib
import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from articles import readership
from articles.models import Article, Correction
from tests.conftest import SEED_SLUG
from tests.factories import ArticleFactory, AuthorFactory, TagFactory
from tests.support.caching import as_after_a_publish

SEED_FILE = Path(__file__).resolve().parent.parent / "articles" / "demo" / "openai-foxconn.md"
SMART_QUOTES = str.maketrans({"“": '"', "”": '"', "‘": "'", "’": "'"})


def parse(response):
    return html5lib.parse(response.content, namespaceHTMLElements=False)


def text_of(element):
    return " ".join("".join(element.itertext()).split()).translate(SMART_QUOTES)


def expected_blocks():
    """(tag, text) for every heading and paragraph of the seed's Markdown body, in order."""
    body = SEED_FILE.read_text(encoding="utf-8").split("\n---\n", 1)[1]
    blocks = []
    for block in (b.strip() for b in body.split("\n\n")):
        if not block:
            continue
        level = len(block) - len(block.lstrip("#"))
        blocks.append((f"h{level}", block[level:].strip()) if level else ("p", " ".join(block.split())))
    return blocks


@pytest.fixture
def seed_page(db, client):
    # The day after the seed story: load_demo keeps the dates of the files (it moves them only to
    # bring the newest story within a day of today).
    with time_machine.travel("2025-11-22T06:00:00Z"):
        call_command("load_demo", stdout=io.StringIO())
    return client.get(f"/news/{SEED_SLUG}/")


def test_seed_story_has_the_structure_of_the_source_in_order(seed_page):
    assert seed_page.status_code == 200
    doc = parse(seed_page)
    h1s = doc.findall(".//h1")
    assert [text_of(h) for h in h1s] == [
        "OpenAI–Foxconn collaboration aims to strengthen AI supply chain"
        " and build data center components in the US"
    ]
    body = doc.find(".//div[@class='article__body prose']")
    rendered = [(el.tag, text_of(el)) for el in body if el.tag in {"h2", "h3", "p"}]
    expected = expected_blocks()
    assert rendered == expected
    headings = [(tag, text) for tag, text in rendered if tag != "p"]
    assert headings == [
        ("h2", "Three key areas of collaboration"),
        ("h3", "1. Designing multi-generation AI data centre hardware"),
        ("h3", "2. Strengthening the U.S. AI supply chain"),
        ("h3", "3. Onshoring critical AI data centre components to the US"),
        ("h2", "Statements from OpenAI and Foxconn leadership"),
    ]
    quote = "“a pioneer at the forefront of the AI digital era.”"  # smart quotes, not typewriter ones
    assert any(quote in "".join(p.itertext()) for p in body.findall("p"))


def test_seed_story_hero_image_and_tags(seed_page):
    doc = parse(seed_page)
    figure = doc.find(".//figure[@class='hero']")
    img = figure.find(".//img")
    assert img.get("alt") == "Rows of server racks in a data centre aisle"
    assert re.search(r"-1600\.jpg 1600w", img.get("srcset"))
    assert img.get("width") == "1600" and img.get("height") == "900"
    webp = figure.find(".//source[@type='image/webp']")
    assert [part.split()[-1] for part in webp.get("srcset").split(", ")] == ["480w", "800w", "1200w", "1600w"]
    assert "Conclave TechMedia illustration" in text_of(figure.find("figcaption"))
    tag_links = [a.get("href") for a in doc.findall(".//ul[@class='tags']//a")]
    assert len(tag_links) == 6
    assert all(re.fullmatch(r"/tags/[\w-]+/", href) for href in tag_links)
    assert "/tags/openai/" in tag_links


def test_page_metadata_for_search_engines_and_social_cards(seed_page):
    doc = parse(seed_page)
    head = {(m.get("property") or m.get("name")): m.get("content") for m in doc.findall(".//head/meta")}
    canonical = f"https://news.example.com/news/{SEED_SLUG}/"
    assert doc.find(".//link[@rel='canonical']").get("href") == canonical
    assert head["og:url"] == canonical
    assert head["og:type"] == "article"
    assert head["description"].startswith("OpenAI and Foxconn will co-design")
    assert head["og:image"].startswith("https://news.example.com/media/")
    assert head["twitter:card"] == "summary_large_image"
    assert doc.find(".//title").text.startswith("OpenAI–Foxconn collaboration")

    (script,) = [s for s in doc.findall(".//script") if s.get("type") == "application/ld+json"]
    data = json.loads(script.text)
    assert data["@type"] == "NewsArticle"
    assert data["headline"].startswith("OpenAI–Foxconn")
    assert data["datePublished"] == "2025-11-21T09:00:00+00:00"
    assert data["dateModified"] == "2025-11-21T09:00:00+00:00"
    assert data["image"][0].startswith("https://news.example.com/media/")
    assert data["author"][0]["name"] == "Conclave News Desk"
    assert data["publisher"]["name"] == "Conclave TechMedia"


def test_byline_times_and_reading_time(seed_page):
    doc = parse(seed_page)
    times = doc.findall(".//div[@class='byline']//time")
    assert times[0].get("datetime") == "2025-11-21T09:00:00+00:00"
    assert "min read" in text_of(doc.find(".//div[@class='byline']"))
    breadcrumb = [text_of(a) for a in doc.findall(".//nav[@class='breadcrumb']//a")]
    assert breadcrumb == ["Home", "Industry"]


def test_json_ld_cannot_be_broken_out_of(db, client):
    article = ArticleFactory(title="</script><script>alert(1)</script>", standfirst="<b>&</b>")
    response = client.get(article.get_absolute_url())
    doc = parse(response)
    scripts = doc.findall(".//script")
    # The JSON-LD block, and the Most read beacon's own file (no inline code): nothing broke out.
    kinds = [s.get("type") or s.get("src") for s in scripts]
    assert kinds == ["application/ld+json", "/static/js/mostread.js"]
    assert json.loads(scripts[0].text)["headline"] == "</script><script>alert(1)</script>"


@pytest.mark.parametrize(
    "state",
    [
        {"status": Article.Status.DRAFT},
        {"status": Article.Status.PUBLISHED, "published_at": timezone.now() + timezone.timedelta(days=1)},
    ],
    ids=["draft", "scheduled"],
)
def test_unpublished_articles_are_404_to_the_public_and_previewable_by_staff(db, client, editor, state):
    article = ArticleFactory(**state)
    assert client.get(article.get_absolute_url()).status_code == 404

    client.force_login(editor)
    response = client.get(article.get_absolute_url())
    assert response.status_code == 200
    assert "Draft preview" in response.content.decode()
    assert "no-cache" in response["Cache-Control"] and "no-store" in response["Cache-Control"]
    assert '<meta name="robots" content="noindex, nofollow">' in response.content.decode()


def test_staff_without_change_permission_cannot_preview(db, client, django_user_model):
    viewer = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    client.force_login(viewer)
    article = ArticleFactory(status=Article.Status.DRAFT)
    assert client.get(article.get_absolute_url()).status_code == 404


def test_published_page_has_no_preview_banner(db, client, editor):
    article = ArticleFactory()
    client.force_login(editor)
    response = client.get(article.get_absolute_url())
    assert "Draft preview" not in response.content.decode()


def test_related_articles_rank_by_shared_tags_then_recency(db, client):
    ai, chips, cloud = TagFactory(), TagFactory(), TagFactory()
    now = timezone.now()
    article = ArticleFactory(tags=[ai, chips, cloud])
    two_shared_old = ArticleFactory(tags=[ai, chips], published_at=now - timezone.timedelta(days=5))
    one_shared_new = ArticleFactory(tags=[cloud], published_at=now - timezone.timedelta(minutes=5))
    three_shared = ArticleFactory(tags=[ai, chips, cloud], published_at=now - timezone.timedelta(days=9))
    one_shared_older = ArticleFactory(tags=[ai], published_at=now - timezone.timedelta(days=2))
    ArticleFactory(tags=[chips], published_at=now - timezone.timedelta(days=20))  # fifth: cut by the limit
    ArticleFactory(tags=[ai, chips, cloud], status=Article.Status.DRAFT)
    ArticleFactory(tags=[ai], published_at=now + timezone.timedelta(hours=2))
    ArticleFactory()  # no shared tag

    doc = parse(client.get(article.get_absolute_url()))
    related = [a.get("href") for a in doc.findall(".//aside[@class='related']//article//h3/a")]
    expected = [three_shared, two_shared_old, one_shared_new, one_shared_older]
    assert related == [story.get_absolute_url() for story in expected]


@pytest.mark.parametrize("tag_count", [1, 20])
def test_article_page_query_budget(db, client, no_page_cache, django_assert_max_num_queries, tag_count):
    tags = TagFactory.create_batch(tag_count)
    authors = AuthorFactory.create_batch(3)
    article = ArticleFactory(tags=tags, authors=authors)
    for _ in range(6):
        ArticleFactory(tags=tags[:1], authors=authors[:1])
    # Corrected, so the corrections are read too.
    Correction.objects.create(article=article, note="A figure was wrong.")
    article.refresh_from_db()
    # Stories were read: the "Most read" box is made too (one query, for its stories' titles).
    for story in Article.objects.all():
        readership.store().add(readership._hours(timezone.now(), 1)[0], story.pk)
    as_after_a_publish()
    with django_assert_max_num_queries(7):  # 6, and the "Most read" box's one
        response = client.get(article.get_absolute_url())
    assert response.status_code == 200
    assert len(parse(response).findall(".//aside[@class='related']//article")) == 4
    assert response.content.decode().count('rel="tag"') == tag_count
    assert len(parse(response).findall(".//aside[@class='most-read']//li")) == 5


def test_related_articles_come_from_each_tags_newest_stories(db, client, monkeypatch):
    """On a large archive only each tag's newest stories are ranked: a popular tag's flood of recent
    stories does not hide the rare tag's, and a story pushed out of its tags' newest is not ranked."""
    from articles import views

    monkeypatch.setattr(views, "RELATED_CANDIDATES_PER_TAG", 3)
    popular, rare = TagFactory(), TagFactory()
    now = timezone.now()
    article = ArticleFactory(tags=[popular, rare])
    forgotten_match = ArticleFactory(tags=[popular, rare], published_at=now - timezone.timedelta(days=400))
    flood = [
        ArticleFactory(tags=[popular], published_at=now - timezone.timedelta(hours=h)) for h in range(1, 6)
    ]
    rare_story = ArticleFactory(tags=[rare], published_at=now - timezone.timedelta(days=30))

    # Two shared tags first, though old: it is among the rare tag's three newest. Then the newest.
    related = [a.pk for a in views.related_articles(article)]
    assert related == [forgotten_match.pk, flood[0].pk, flood[1].pk, flood[2].pk]
    assert rare_story.pk not in related  # a candidate, outranked by newer ones
    for _ in range(3):
        ArticleFactory(tags=[rare], published_at=now - timezone.timedelta(days=10))
    assert forgotten_match.pk not in [a.pk for a in views.related_articles(article)]


def test_missing_article_gets_the_site_404_page(db, client):
    response = client.get("/news/no-such-story/")
    assert response.status_code == 404
    assert "We could not find that page" in response.content.decode()
    assert 'class="site-header"' in response.content.decode()


def test_the_page_needs_no_javascript(seed_page):
    doc = parse(seed_page)
    # Data, and the Most read beacon (deferred, counting only): nothing the page needs to be read.
    scripts = [s for s in doc.findall(".//script") if s.get("type") != "application/ld+json"]
    assert [(s.get("src"), s.get("defer") is not None) for s in scripts] == [("/static/js/mostread.js", True)]
    assert len(doc.findall(".//link[@rel='stylesheet']")) == 1


def test_server_error_page_renders_without_a_request_context():
    from django.template.loader import render_to_string

    html = render_to_string("500.html")
    assert "Something went wrong on our side" in html
    assert "/static/css/site.css" in html


def test_section_page_marks_its_navigation_link(db, client):
    article = ArticleFactory()
    content = client.get(article.section.get_absolute_url()).content.decode()
    assert f'href="{article.section.get_absolute_url()}" aria-current="page"' in content
