"""The minimal listing pages of Step 1: home, section, author and tag."""

import html5lib
import pytest

from articles.models import Article
from tests.factories import ArticleFactory, TagFactory
from tests.support.caching import as_after_a_publish


def headlines(response):
    """Linked headlines in the main content, in document order."""
    main = html5lib.parse(response.content, namespaceHTMLElements=False).find(".//main")
    return ["".join(h.itertext()) for h in main.iter() if h.tag in ("h2", "h3") and h.find("a") is not None]


@pytest.mark.parametrize("url", ["/", "/sections/chips/", "/authors/ada-reporter/", "/tags/semiconductors/"])
def test_listings_show_only_published_stories_newest_first(client, newsroom, url):
    response = client.get(url)
    assert response.status_code == 200
    shown = list(dict.fromkeys(headlines(response)))  # the home page repeats stories in section blocks
    assert "Draft story" not in shown and "Future story" not in shown
    assert [t for t in shown if t.startswith("Live story")] == [
        "Live story 0",
        "Live story 1",
        "Live story 2",
    ]


@pytest.mark.parametrize("url", ["/sections/chips/", "/authors/ada-reporter/", "/tags/semiconductors/"])
def test_a_subject_s_page_has_its_follow_box_in_a_column_set_before_it_arrives(client, newsroom, url):
    main = html5lib.parse(client.get(url).content, namespaceHTMLElements=False).find(".//main")
    body = main.find(".//div[@class='listing-body listing-body--aside']")
    assert [child.get("class") for child in body] == ["listing-main", "listing-aside"]
    assert body[1].find(".//form[@class='follow-form']") is not None
    # Django's {# #} comments end on their line; an unclosed one is printed on the page.
    assert "{#" not in "".join(main.itertext())


def test_home_leads_with_the_newest_story(client, newsroom):
    doc = html5lib.parse(client.get("/").content, namespaceHTMLElements=False)
    lead = doc.find(".//section[@class='lead']")
    assert "".join(lead.find(".//h2").itertext()) == "Live story 0"
    assert len(doc.findall(".//h1")) == 1


@pytest.mark.parametrize("page", ["0", "abc", "99999", "-1"])
def test_bad_page_numbers_are_404_not_500(client, newsroom, page):
    assert client.get("/", {"page": page}).status_code == 404
    assert client.get("/tags/semiconductors/", {"page": page}).status_code == 404


def test_pagination_links(client, db):
    ArticleFactory.create_batch(45)
    response = client.get("/", {"page": 2})
    content = response.content.decode()
    assert 'rel="prev" href="?page=1"' in content and 'rel="next" href="?page=3"' in content
    assert len(response.context["articles"]) == 20


def test_unknown_section_author_and_tag_are_404(client, db):
    for url in ["/sections/nope/", "/authors/nope/", "/tags/nope/"]:
        assert client.get(url).status_code == 404


def test_listing_query_budget_does_not_grow_with_the_page(
    client, db, no_page_cache, django_assert_max_num_queries
):
    tag = TagFactory()
    ArticleFactory.create_batch(25, tags=[tag])
    for url in ["/", f"/tags/{tag.slug}/", f"/sections/{Article.objects.first().section.slug}/"]:
        as_after_a_publish()
        with django_assert_max_num_queries(8):
            assert client.get(url).status_code == 200


def test_healthz_reports_the_database(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_listings_stop_after_the_page_cap_and_point_to_the_archive(client, db, monkeypatch):
    from articles import views

    monkeypatch.setattr(views, "MAX_PAGES", 2)
    tag = TagFactory(slug="busy")
    ArticleFactory.create_batch(45, tags=[tag])
    response = client.get("/tags/busy/", {"page": 2})
    content = response.content.decode()
    assert "40+ stories tagged" in content
    assert "Older stories: the archive" in content and 'rel="next"' not in content
    assert client.get("/tags/busy/", {"page": 3}).status_code == 404
