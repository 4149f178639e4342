"""Discovery for crawlers: /sitemap.xml (an index) and its sitemaps, /news-sitemap.xml and /robots.txt."""

import datetime
import xml.etree.ElementTree as ET

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from articles import sitemaps
from tests.factories import ArticleFactory, AuthorFactory, SectionFactory, TagFactory

SITE = "https://news.example.com"
SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
IMAGE = "{http://www.google.com/schemas/sitemap-image/1.1}"
NEWS = "{http://www.google.com/schemas/sitemap-news/0.9}"


def parse(response):
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    return ET.fromstring(response.content)  # noqa: S314 -- our own output, parsed to check it


def crawl(client, **headers):
    """Every <url> reachable from /sitemap.xml, as {loc: {"lastmod": …, "images": […]}}."""
    index = parse(client.get("/sitemap.xml", **headers))
    assert index.tag == f"{SM}sitemapindex"
    urls = {}
    for child in index.findall(f"{SM}sitemap"):
        location = child.findtext(f"{SM}loc")
        assert location.startswith(f"{SITE}/sitemap-")
        urlset = parse(client.get(location.removeprefix(SITE), **headers))
        assert urlset.tag == f"{SM}urlset"
        for url in urlset.findall(f"{SM}url"):
            loc = url.findtext(f"{SM}loc")
            assert loc not in urls
            urls[loc] = {
                "lastmod": url.findtext(f"{SM}lastmod"),
                "images": [image.findtext(f"{IMAGE}loc") for image in url.findall(f"{IMAGE}image")],
            }
    return urls


def absolute(obj):
    return SITE + obj.get_absolute_url()


@pytest.fixture
def newsroom(db):
    now = timezone.now()
    live_section = SectionFactory(name="Chips", slug="chips")
    live_author = AuthorFactory(name="Ada Reporter", slug="ada-reporter")
    live_tag = TagFactory(name="Semiconductors", slug="semiconductors")
    # Each of these has articles, but none the public can see yet.
    hidden_section = SectionFactory(name="Embargoed", slug="embargoed")
    hidden_author = AuthorFactory(name="Not Yet", slug="not-yet")
    hidden_tag = TagFactory(name="Rumours", slug="rumours")
    TagFactory(name="Unused", slug="unused")
    SectionFactory(name="Empty", slug="empty")
    AuthorFactory(name="Idle", slug="idle")

    live = [
        ArticleFactory(
            section=live_section,
            authors=[live_author],
            tags=[live_tag],
            published_at=now - datetime.timedelta(days=i),
        )
        for i in range(3)
    ]
    hidden = {"section": hidden_section, "authors": [hidden_author], "tags": [hidden_tag]}
    drafts = [
        ArticleFactory(status="draft", **hidden),
        ArticleFactory(published_at=now + datetime.timedelta(hours=2), **hidden),
    ]
    return {
        "live": live,
        "drafts": drafts,
        "listed": [live_section, live_author, live_tag],
        "unlisted": [hidden_section, hidden_author, hidden_tag],
    }


def test_sitemap_lists_exactly_the_published_articles_sections_tags_and_authors(
    client, newsroom, article_with_image
):
    urls = crawl(client)
    articles = {loc for loc in urls if loc.startswith(f"{SITE}/news/")}
    assert articles == {absolute(a) for a in [*newsroom["live"], article_with_image]}
    listings = set(urls) - articles
    assert listings == {absolute(obj) for obj in newsroom["listed"]} | {absolute(article_with_image.section)}
    for draft in newsroom["drafts"]:
        assert absolute(draft) not in urls
    for obj in newsroom["unlisted"]:
        assert absolute(obj) not in urls


def test_sitemap_lastmod_is_each_article_modified_time(client, newsroom, time_machine):
    revised = newsroom["live"][2]
    time_machine.move_to(timezone.now() + datetime.timedelta(minutes=10), tick=False)
    revised.title = "A corrected headline"
    revised.save()
    revised.refresh_from_db()
    assert revised.modified_at == revised.revised_at

    urls = crawl(client)
    for article in [*newsroom["live"][:2], revised]:
        lastmod = datetime.datetime.fromisoformat(urls[absolute(article)]["lastmod"])
        assert lastmod == article.modified_at.replace(microsecond=0)
    # A section, author or tag changes when a new article appears in it: its newest article's time.
    newest = newsroom["live"][0].published_at.replace(microsecond=0)
    for obj in newsroom["listed"]:
        assert datetime.datetime.fromisoformat(urls[absolute(obj)]["lastmod"]) == newest


def test_index_gives_each_sitemap_its_newest_lastmod(client, newsroom):
    index = parse(client.get("/sitemap.xml"))
    lastmods = {
        child.findtext(f"{SM}loc"): datetime.datetime.fromisoformat(child.findtext(f"{SM}lastmod"))
        for child in index.findall(f"{SM}sitemap")
    }
    newest = newsroom["live"][0].published_at.replace(microsecond=0)
    assert lastmods == {
        f"{SITE}/sitemap-{name}.xml": newest for name in ["articles", "sections", "tags", "authors"]
    }


def test_articles_with_a_hero_image_have_an_image_entry(client, newsroom, article_with_image):
    urls = crawl(client)
    assert urls[absolute(article_with_image)]["images"] == [SITE + article_with_image.hero_social_url]
    assert article_with_image.hero_social_url.endswith(".jpg")
    for article in newsroom["live"]:
        assert urls[absolute(article)]["images"] == []


def test_every_location_is_on_site_url_whatever_the_request_host(
    client, settings, newsroom, article_with_image
):
    settings.ALLOWED_HOSTS = ["evil.example"]
    urls = crawl(client, HTTP_HOST="evil.example")
    locations = list(urls) + [image for url in urls.values() for image in url["images"]]
    assert len(locations) == 9
    assert all(location.startswith(SITE + "/") for location in locations), locations
    assert b"evil.example" not in client.get("/news-sitemap.xml", HTTP_HOST="evil.example").content
    assert b"evil.example" not in client.get("/robots.txt", HTTP_HOST="evil.example").content


def test_large_sitemaps_are_split_into_pages_listed_in_the_index(client, newsroom, monkeypatch):
    monkeypatch.setattr(sitemaps.ArticleSitemap, "limit", 2)
    index = parse(client.get("/sitemap.xml"))
    locations = [child.findtext(f"{SM}loc") for child in index.findall(f"{SM}sitemap")]
    assert f"{SITE}/sitemap-articles.xml" in locations and f"{SITE}/sitemap-articles.xml?p=2" in locations
    assert f"{SITE}/sitemap-articles.xml?p=3" not in locations
    assert {loc for loc in crawl(client) if "/news/" in loc} == {absolute(a) for a in newsroom["live"]}
    assert client.get("/sitemap-articles.xml?p=3").status_code == 404


def test_unknown_sitemap_is_404(client, db):
    assert client.get("/sitemap-nope.xml").status_code == 404


# The page count and the page; for articles also the in-body pictures of the page's stories, at once.
@pytest.mark.parametrize(
    ("name", "expected"), [("articles", 3), ("sections", 2), ("tags", 2), ("authors", 2)]
)
def test_sitemap_query_count_does_not_grow_with_the_items(client, db, no_page_cache, name, expected):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(f"/sitemap-{name}.xml").status_code == 200
        return len(captured)

    ArticleFactory(authors=[AuthorFactory()], tags=[TagFactory()])
    few = queries()
    for _ in range(10):
        ArticleFactory(authors=[AuthorFactory()], tags=[TagFactory()])
    assert few == queries() == expected


def test_news_sitemap_lists_published_articles_of_the_last_48_hours(client, db, time_machine):
    now = datetime.datetime(2025, 3, 14, 12, 0, 30, 123456, tzinfo=datetime.UTC)
    time_machine.move_to(now, tick=False)
    recent = ArticleFactory(title="Fresh", published_at=now - datetime.timedelta(hours=1))
    edge = ArticleFactory(title="Nearly stale", published_at=now - datetime.timedelta(hours=47, minutes=59))
    ArticleFactory(title="Stale", published_at=now - datetime.timedelta(hours=48, minutes=1))
    ArticleFactory(title="Draft", status="draft", published_at=now - datetime.timedelta(hours=1))
    ArticleFactory(title="Scheduled", published_at=now + datetime.timedelta(minutes=5))

    root = parse(client.get("/news-sitemap.xml"))
    assert root.tag == f"{SM}urlset"
    urls = root.findall(f"{SM}url")
    assert [url.findtext(f"{SM}loc") for url in urls] == [absolute(recent), absolute(edge)]
    for url, article in zip(urls, [recent, edge], strict=True):
        news = url.find(f"{NEWS}news")
        assert news.findtext(f"{NEWS}publication/{NEWS}name") == "Conclave TechMedia"
        assert news.findtext(f"{NEWS}publication/{NEWS}language") == "en"
        assert news.findtext(f"{NEWS}title") == article.title
        published = news.findtext(f"{NEWS}publication_date")
        assert published == article.published_at.replace(microsecond=0).isoformat()
        assert datetime.datetime.fromisoformat(published).tzinfo is not None  # W3C: with a time zone
    assert urls[0].findtext(f"{NEWS}news/{NEWS}publication_date") == "2025-03-14T11:00:30+00:00"

    time_machine.move_to(now + datetime.timedelta(minutes=2), tick=False)  # "Nearly stale" ages out
    root = parse(client.get("/news-sitemap.xml"))
    assert [url.findtext(f"{SM}loc") for url in root.findall(f"{SM}url")] == [absolute(recent)]


def test_news_sitemap_is_capped_newest_first(client, db, monkeypatch):
    monkeypatch.setattr(sitemaps, "NEWS_LIMIT", 3)
    now = timezone.now()
    articles = [ArticleFactory(published_at=now - datetime.timedelta(minutes=i + 1)) for i in range(5)]
    root = parse(client.get("/news-sitemap.xml"))
    assert [url.findtext(f"{SM}loc") for url in root.findall(f"{SM}url")] == [
        absolute(a) for a in articles[:3]
    ]


def test_hostile_titles_give_well_formed_news_sitemap(client, db):
    title = 'Breaking: <script>alert("x")</script> & ]]> <![CDATA[ \x0bnews'
    ArticleFactory(title=title)
    root = parse(client.get("/news-sitemap.xml"))  # raises unless well-formed
    assert root.findtext(f"{SM}url/{NEWS}news/{NEWS}title") == title.replace("\x0b", "")


def test_robots_txt(client, db):
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode().splitlines() == [
        "User-agent: *",
        "Disallow: /admin/",
        "Disallow: /search/",
        "",
        f"Sitemap: {SITE}/sitemap.xml",
        f"Sitemap: {SITE}/news-sitemap.xml",
    ]
    for line in response.content.decode().splitlines():
        if line.startswith("Sitemap: "):
            assert client.get(line.removeprefix("Sitemap: ").removeprefix(SITE)).status_code == 200
