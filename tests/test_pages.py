"""Step 2 pages: home, topics index, archive, tag and author pages, and the chrome around them."""

import datetime

import html5lib
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from articles import images, readership, views
from articles.models import Article, Author, Tag
from tests.factories import ArticleFactory, AuthorFactory, SectionFactory, TagFactory, jpeg_upload
from tests.support.caching import as_after_a_publish


def parse(response):
    return html5lib.parse(response.content, namespaceHTMLElements=False)


def text(element):
    return " ".join("".join(element.itertext()).split())


def days_ago(days):
    return timezone.now() - datetime.timedelta(days=days)


def test_home_leads_with_the_newest_featured_story(client, db):
    featured_old = ArticleFactory(title="Featured story", is_featured=True, published_at=days_ago(3))
    ArticleFactory(title="Newest story", published_at=days_ago(1))
    ArticleFactory(title="Featured draft", is_featured=True, status="draft")
    doc = parse(client.get("/"))
    assert text(doc.find(".//section[@class='lead']//h2")) == featured_old.title
    latest = [text(h) for h in doc.findall(".//section[@class='home-latest']//h3")]
    assert latest == ["Newest story"]


def test_home_leads_with_a_featured_story_older_than_every_story_it_counts(client, db, monkeypatch):
    monkeypatch.setattr(views, "MAX_PAGES", 1)  # page 1 reads the newest 22 stories
    featured_old = ArticleFactory(title="Featured long ago", is_featured=True, published_at=days_ago(90))
    for i in range(25):
        ArticleFactory(title=f"Story {i}", published_at=days_ago(i + 1))
    doc = parse(client.get("/"))
    assert text(doc.find(".//section[@class='lead']//h2")) == featured_old.title
    latest = [text(h) for h in doc.findall(".//section[@class='home-latest']//h3")]
    assert latest == [f"Story {i}" for i in range(20)]


@pytest.mark.parametrize(
    "stories, pages, capped", [(20, 1, False), (21, 1, False), (22, 2, False), (45, 2, True)]
)
def test_home_page_one_counts_its_pages_as_page_two_does(client, db, monkeypatch, stories, pages, capped):
    monkeypatch.setattr(views, "MAX_PAGES", 2)
    ArticleFactory.create_batch(stories)  # one leads; the rest are listed 20 a page
    first = client.get("/")
    content = first.content.decode()
    if pages > 1:
        assert f"Page 1 of {pages}" in content
        second = client.get("/", {"page": 2})
        assert second.context["paginator"].num_pages == first.context["paginator"].num_pages == pages
        assert second.context["paginator"].is_capped == first.context["paginator"].is_capped == capped
    else:
        assert 'class="pagination"' not in content and first.context["paginator"].num_pages == 1
    assert ("Older stories: the archive" in content) == (capped and pages == 1)


def test_home_has_a_block_per_section_in_navigation_order(client, db):
    later = SectionFactory(name="Zeta", slug="zeta", position=2)
    first = SectionFactory(name="Alpha", slug="alpha", position=1)
    for i in range(6):
        ArticleFactory(title=f"Zeta {i}", section=later, published_at=days_ago(i + 1))
    ArticleFactory(title="Alpha 0", section=first, published_at=days_ago(10))
    doc = parse(client.get("/"))
    blocks = doc.findall(".//section[@class='section-block']")
    assert [text(b.find("h2")) for b in blocks] == ["Alpha", "Zeta"]
    assert [text(h) for h in blocks[1].findall(".//h3")] == ["Zeta 0", "Zeta 1", "Zeta 2", "Zeta 3"]


def test_home_section_blocks_come_from_the_newest_stories_only(client, db, monkeypatch):
    monkeypatch.setattr(views, "SECTION_BLOCK_WINDOW", 3)
    busy, quiet = SectionFactory(name="Busy", slug="busy"), SectionFactory(name="Quiet", slug="quiet")
    ArticleFactory(title="Quiet, long ago", section=quiet, published_at=days_ago(30))
    for i in range(3):
        ArticleFactory(title=f"Busy {i}", section=busy, published_at=days_ago(i + 1))
    ArticleFactory(title="Busy, scheduled", section=busy, published_at=days_ago(-1))
    doc = parse(client.get("/"))
    blocks = doc.findall(".//section[@class='section-block']")
    assert [text(b.find("h2")) for b in blocks] == ["Busy"]
    assert [text(h) for h in blocks[0].findall(".//h3")] == ["Busy 0", "Busy 1", "Busy 2"]


def test_home_trending_topics_count_the_last_30_days(client, db):
    hot, cold = TagFactory(name="Hot"), TagFactory(name="Cold")
    ArticleFactory.create_batch(3, tags=[hot], published_at=days_ago(2))
    ArticleFactory.create_batch(5, tags=[cold], published_at=days_ago(60))
    ArticleFactory(tags=[cold], status="draft")
    doc = parse(client.get("/"))
    topics = [text(a) for a in doc.findall(".//aside[@class='home-topics']//a[@class='tag']")]
    assert topics == ["Hot 3"]


def test_home_page_two_is_just_the_latest_list(client, db):
    ArticleFactory.create_batch(30)
    response = client.get("/", {"page": 2})
    doc = parse(response)
    assert doc.find(".//section[@class='lead']") is None
    assert text(doc.find(".//h1")) == "Latest stories"
    assert len(response.context["articles"]) == 9  # 30 minus the lead, 20 on page 1


def test_tag_index_lists_tags_with_published_stories_a_to_z(client, db):
    ArticleFactory(tags=[TagFactory(name="robots")])
    ArticleFactory(tags=[TagFactory(name="AI")])
    ArticleFactory.create_batch(2, tags=[Tag.objects.get(name="AI")])
    ArticleFactory(status="draft", tags=[TagFactory(name="Hidden")])
    doc = parse(client.get("/tags/"))
    entries = [text(li) for li in doc.findall(".//ul[@class='tag-index']/li") if li.find("a") is not None]
    assert entries == ["AI 3 stories", "robots 1 story"]


def test_tag_index_is_paginated(client, db):
    for i in range(25):
        ArticleFactory(tags=[TagFactory(name=f"tag {i:02d}")])
    assert len(client.get("/tags/").context["tags"]) == 20
    assert len(client.get("/tags/", {"page": 2}).context["tags"]) == 5
    assert client.get("/tags/", {"page": 3}).status_code == 404


def test_tag_page_shows_its_sanitized_markdown_description_count_and_feeds(client, db):
    tag = TagFactory(name="Chips", slug="chips", description="All about **chips**. <script>alert(1)</script>")
    ArticleFactory.create_batch(3, tags=[tag])
    response = client.get("/tags/chips/")
    content = response.content.decode()
    assert "<strong>chips</strong>" in content and "alert(1)" not in content
    assert "3 stories tagged Chips" in content
    doc = parse(response)
    alternates = {
        link.get("type"): link.get("href") for link in doc.findall(".//head/link[@rel='alternate']")
    }
    assert alternates == {
        "application/rss+xml": "/tags/chips/feed/",
        "application/atom+xml": "/tags/chips/feed/atom/",
    }


@pytest.mark.parametrize(
    ("url", "rss"),
    [
        ("/", "/feed/"),
        ("/sections/{section}/", "/sections/{section}/feed/"),
        ("/authors/{author}/", "/authors/{author}/feed/"),
    ],
)
def test_every_listing_links_its_own_feed(client, db, url, rss):
    author = AuthorFactory()
    article = ArticleFactory(authors=[author])
    url = url.format(section=article.section.slug, author=author.slug)
    doc = parse(client.get(url))
    feeds = [link.get("href") for link in doc.findall(".//head/link[@rel='alternate']")]
    assert feeds[0] == rss.format(section=article.section.slug, author=author.slug)


def test_author_page_shows_bio_and_avatar(client, db):
    author = AuthorFactory(name="Ada", slug="ada", bio="Covers chips.")
    author.avatar = images.prepare_upload(jpeg_upload(size=(800, 600)), square=320).content
    author.save()
    ArticleFactory(authors=[author])
    doc = parse(client.get("/authors/ada/"))
    avatar = doc.find(".//img[@class='author-card__avatar']")
    assert avatar is not None and avatar.get("src").startswith("/media/authors/")
    assert "Covers chips." in text(doc.find(".//main"))


def test_author_avatar_uploaded_in_the_admin_is_cropped_square(editor_client, db):
    response = editor_client.post(
        reverse("admin:articles_author_add"),
        {"name": "Bo", "slug": "bo", "bio": "", "avatar": jpeg_upload(size=(1200, 800)), "user": ""},
    )
    assert response.status_code == 302
    from PIL import Image

    with Author.objects.get().avatar.open() as f, Image.open(f) as im:
        assert im.size == (320, 320)


def test_archive_month_lists_its_stories_and_links_neighbours_with_content(client, db):
    for year, month in [(2025, 9), (2025, 11), (2025, 11), (2026, 2)]:
        ArticleFactory(published_at=datetime.datetime(year, month, 10, 12, tzinfo=datetime.UTC))
    ArticleFactory(status="draft", published_at=datetime.datetime(2025, 10, 5, tzinfo=datetime.UTC))
    response = client.get("/archive/2025/11/")
    assert response.status_code == 200
    assert len(response.context["articles"]) == 2
    doc = parse(response)
    links = [a.get("href") for a in doc.findall(".//nav[@class='month-nav']/a")]
    assert links == ["/archive/2026/02/", "/archive/2025/09/"]


@pytest.mark.parametrize(
    "url", ["/archive/2025/10/", "/archive/2025/13/", "/archive/2025/00/", "/archive/99/1/"]
)
def test_archive_months_without_stories_or_invalid_are_404(client, db, url):
    ArticleFactory(status="draft", published_at=datetime.datetime(2025, 10, 5, tzinfo=datetime.UTC))
    assert client.get(url).status_code == 404


def test_pagination_keeps_the_parameters_the_page_reads_and_drops_the_rest(client, db):
    tag = TagFactory(slug="ai")
    ArticleFactory.create_batch(45, tags=[tag])
    content = client.get("/tags/ai/", {"page": 2, "utm_source": "mail"}).content.decode()
    assert 'rel="prev" href="?page=1"' in content
    assert 'rel="next" href="?page=3"' in content
    assert "utm_source" not in content  # kept for every reader: no visitor's tracking tags in it
    content = client.get("/search/", {"q": "paragraph", "page": 2, "utm_source": "mail"}).content.decode()
    assert 'rel="prev" href="?q=paragraph&amp;page=1"' in content
    assert 'rel="next" href="?q=paragraph&amp;page=3"' in content
    assert "utm_source" not in content


def test_chrome_has_skip_link_landmarks_search_and_one_h1(client, db):
    article = ArticleFactory()
    for url in ["/", "/tags/", article.get_absolute_url(), article.section.get_absolute_url()]:
        doc = parse(client.get(url))
        assert doc.find(".//a[@class='skip-link']").get("href") == "#main"
        assert doc.find(".//main[@id='main']") is not None
        assert doc.find(".//header[@class='site-header']") is not None
        assert doc.find(".//footer[@class='site-footer']") is not None
        assert doc.find(".//form[@role='search']").get("action") == "/search/"
        assert len(doc.findall(".//h1")) == 1, url


@pytest.mark.parametrize(
    "path", ["/", "/tags/", "/tags/{tag}/", "/sections/{section}/", "/authors/{author}/", "/archive/{ym}/"]
)
def test_listing_query_budgets_stay_flat_from_10_to_200_articles(
    db, no_page_cache, django_assert_max_num_queries, path
):
    tag, author, section = TagFactory(), AuthorFactory(), SectionFactory()
    month = timezone.now().replace(day=1) - datetime.timedelta(days=20)

    def grow(n):
        Article.objects.bulk_create(
            [
                Article(
                    title=f"Bulk {i}",
                    slug=f"bulk-{Article.objects.count()}-{i}",
                    body="x",
                    body_html="<p>x</p>",
                    status="published",
                    published_at=month + datetime.timedelta(minutes=i),
                    section=section,
                )
                for i in range(n)
            ]
        )
        for article in Article.objects.filter(tagged_items__isnull=True):
            article.tags.add(tag)
            article.authors.add(author)

    url = path.format(tag=tag.slug, section=section.slug, author=author.slug, ym=f"{month:%Y/%m}")
    counts = []
    for size in (10, 190):
        grow(size)
        # Every story was read: the home page's "Most read" box is made too, in one query.
        hour = readership._hours(timezone.now(), 1)[0]
        for pk in Article.objects.values_list("pk", flat=True):
            readership.store().add(hour, pk)
        client = Client()
        as_after_a_publish()
        with django_assert_max_num_queries(8) as captured:
            assert client.get(url).status_code == 200
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1], f"{url}: {counts}"


def test_the_footer_offers_a_page_feed_only_where_it_differs_from_the_site_feed(client, db):
    tag = TagFactory(name="Chips", slug="chips")
    ArticleFactory(tags=[tag])
    assert "This page's RSS feed" not in client.get("/").content.decode()
    tag_page = client.get("/tags/chips/").content.decode()
    assert '<a href="/tags/chips/feed/">This page\'s RSS feed</a>' in tag_page
