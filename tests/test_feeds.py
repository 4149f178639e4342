"""RSS 2.0 and Atom feeds: the site's, and those of one section, author or tag."""

import datetime
import html
import re
import xml.etree.ElementTree as ET
from email.utils import parsedate_to_datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from articles.models import Article
from tests.factories import ArticleFactory, AuthorFactory, SectionFactory, TagFactory

SITE = "https://news.example.com"
ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT = "{http://purl.org/rss/1.0/modules/content/}"
DC = "{http://purl.org/dc/elements/1.1/}"

FEEDS = {
    "rss": ["/feed/", "/sections/chips/feed/", "/authors/ada-reporter/feed/", "/tags/semiconductors/feed/"],
    "atom": [
        "/feed/atom/",
        "/sections/chips/feed/atom/",
        "/authors/ada-reporter/feed/atom/",
        "/tags/semiconductors/feed/atom/",
    ],
}
ALL_FEEDS = FEEDS["rss"] + FEEDS["atom"]


def parse(response):
    assert response.status_code == 200
    return ET.fromstring(response.content)  # noqa: S314 -- our own output, parsed to check it


def rss_items(root):
    return root.findall("./channel/item")


def titles(root):
    """The headlines as a reader shows them: RSS titles decoded as HTML, Atom's as the text they are."""
    if root.tag == "rss":
        return [html.unescape(item.findtext("title")) for item in rss_items(root)]
    return [entry.findtext(f"{ATOM}title") for entry in root.findall(f"{ATOM}entry")]


def rfc3339(text):
    return datetime.datetime.fromisoformat(text)


@pytest.fixture
def rich_article(article_with_image):
    """The newest article: two authors, two tags, an image and links of every kind in the body."""
    article = article_with_image
    article.title = "Chips & dips"
    article.standfirst = "Why <canvas> & friends matter."
    article.body = (
        "See [our guide](/news/guide/), [the index](../../tags/) and a note[^1].\n\n"
        "[elsewhere](https://example.org/x?a=1&b=2)\n\n[^1]: A footnote."
    )
    article.section = SectionFactory(name="Chips", slug="chips")
    article.published_at = timezone.now() - datetime.timedelta(minutes=5)
    article.save()
    article.authors.set(
        [AuthorFactory(name="Zed Last"), AuthorFactory(name="Ada Reporter", slug="ada-reporter")]
    )
    article.tags.set(
        [TagFactory(name="Semiconductors", slug="semiconductors"), TagFactory(name="AI", slug="ai")]
    )
    return Article.objects.get(pk=article.pk)


def test_rss_channel_and_item_carry_the_required_elements(client, rich_article):
    ArticleFactory(title="Older story", published_at=timezone.now() - datetime.timedelta(days=1))
    response = client.get("/feed/")
    assert response["Content-Type"] == "application/rss+xml; charset=utf-8"
    root = parse(response)
    assert root.tag == "rss" and root.get("version") == "2.0"
    channel = root.find("channel")
    assert channel.findtext("title") == "Conclave TechMedia"
    assert channel.findtext("link") == f"{SITE}/"
    assert channel.findtext("description")
    self_link = channel.find(f"{ATOM}link")
    assert self_link.get("rel") == "self" and self_link.get("href") == f"{SITE}/feed/"
    newest_modified = rich_article.modified_at.replace(microsecond=0)
    assert parsedate_to_datetime(channel.findtext("lastBuildDate")) == newest_modified

    item = rss_items(root)[0]
    url = f"{SITE}/news/{rich_article.slug}/"
    assert item.findtext("title") == "Chips &amp; dips"  # HTML text, as readers decode it
    assert item.findtext("link") == url
    guid = item.find("guid")
    assert guid.text == url and guid.get("isPermaLink") == "true"
    assert parsedate_to_datetime(item.findtext("pubDate")) == rich_article.published_at.replace(microsecond=0)
    # The summary as HTML (so "<canvas>" is text, not a tag), the full article in content:encoded.
    assert item.findtext("description") == "Why &lt;canvas&gt; &amp; friends matter."
    content = item.findtext(f"{CONTENT}encoded")
    assert "A footnote." in content and content.startswith("<p>See <a href=")
    assert [c.text for c in item.findall("category")] == ["AI", "Semiconductors"]
    assert [c.text for c in item.findall(f"{DC}creator")] == ["Ada Reporter", "Zed Last"]
    enclosure = item.find("enclosure")
    assert enclosure.get("url") == SITE + rich_article.hero_social_url
    assert enclosure.get("url").endswith(".jpg")
    assert enclosure.get("type") == "image/jpeg" and enclosure.get("length") == "0"
    assert len(item.findall("enclosure")) == 1

    older = rss_items(root)[1]
    assert older.find("enclosure") is None and older.findall("category") == []


def test_atom_feed_and_entry_carry_the_required_elements(client, rich_article):
    response = client.get("/feed/atom/")
    assert response["Content-Type"] == "application/atom+xml; charset=utf-8"
    root = parse(response)
    assert root.tag == f"{ATOM}feed"
    assert root.findtext(f"{ATOM}title") == "Conclave TechMedia"
    assert root.findtext(f"{ATOM}id") == f"{SITE}/feed/atom/"
    assert rfc3339(root.findtext(f"{ATOM}updated")) == rich_article.modified_at
    links = {link.get("rel"): link.get("href") for link in root.findall(f"{ATOM}link")}
    assert links == {"alternate": f"{SITE}/", "self": f"{SITE}/feed/atom/"}
    assert root.findtext(f"{ATOM}author/{ATOM}name") == "Conclave TechMedia"  # for entries without a byline

    entry = root.find(f"{ATOM}entry")
    url = f"{SITE}/news/{rich_article.slug}/"
    assert entry.findtext(f"{ATOM}id") == url
    assert entry.findtext(f"{ATOM}title") == "Chips & dips"
    assert rfc3339(entry.findtext(f"{ATOM}updated")) == rich_article.modified_at
    assert rfc3339(entry.findtext(f"{ATOM}published")) == rich_article.published_at
    entry_links = {link.get("rel"): link for link in entry.findall(f"{ATOM}link")}
    assert entry_links["alternate"].get("href") == url
    assert entry_links["enclosure"].get("href") == SITE + rich_article.hero_social_url
    assert entry_links["enclosure"].get("type") == "image/jpeg"
    assert entry_links["enclosure"].get("length") == "0"
    content = entry.find(f"{ATOM}content")
    assert content.get("type") == "html" and "A footnote." in content.text
    summary = entry.find(f"{ATOM}summary")
    assert summary.get("type") == "html" and summary.text == "Why &lt;canvas&gt; &amp; friends matter."
    authors = {a.findtext(f"{ATOM}name"): a.findtext(f"{ATOM}uri") for a in entry.findall(f"{ATOM}author")}
    assert authors["Ada Reporter"] == f"{SITE}/authors/ada-reporter/"
    assert set(authors) == {"Ada Reporter", "Zed Last"}
    assert sorted(c.get("term") for c in entry.findall(f"{ATOM}category")) == ["AI", "Semiconductors"]


@pytest.mark.parametrize("url", ALL_FEEDS)
def test_every_url_is_absolute_on_site_url_whatever_the_request_host(client, settings, rich_article, url):
    settings.ALLOWED_HOSTS = ["evil.example"]
    response = client.get(url, HTTP_HOST="evil.example")  # plain http, a foreign host
    assert b"evil.example" not in response.content
    root = parse(response)
    urls = []
    for element in root.iter():
        urls += [element.get(name) for name in ("href", "url") if element.get(name)]
        if element.tag in ("link", "guid", f"{ATOM}id", f"{ATOM}uri"):
            urls.append(element.text)
        if element.tag in (f"{CONTENT}encoded", f"{ATOM}content"):
            urls += re.findall(r'(?:href|src)="([^"]*)"', element.text)
    assert len(urls) >= 10
    internal = [u for u in urls if not u.startswith("https://example.org/")]
    assert all(u.startswith(SITE + "/") for u in internal), internal
    # Relative links in the body are resolved against the article, as a browser would on its page.
    article_url = f"{SITE}/news/{rich_article.slug}/"
    assert f"{SITE}/news/guide/" in urls and f"{SITE}/tags/" in urls and f"{article_url}#fn:1" in urls
    assert "https://example.org/x?a=1&amp;b=2" in urls  # external links untouched, still HTML-escaped


def test_feeds_hold_the_20_newest_published_articles(client, db):
    now = timezone.now()
    for i in range(25):
        ArticleFactory(title=f"Story {i:02}", published_at=now - datetime.timedelta(hours=i + 1))
    expected = [f"Story {i:02}" for i in range(20)]
    assert titles(parse(client.get("/feed/"))) == expected
    assert titles(parse(client.get("/feed/atom/"))) == expected


@pytest.mark.parametrize("url", ALL_FEEDS)
def test_drafts_and_future_articles_are_absent(client, newsroom, url):
    shown = titles(parse(client.get(url)))
    assert "Draft story" not in shown and "Future story" not in shown
    assert [t for t in shown if t.startswith("Live story")] == [
        "Live story 0",
        "Live story 1",
        "Live story 2",
    ]


@pytest.mark.parametrize(
    "url, expected",
    [
        ("/feed/", ["Live story 0", "Live story 1", "Live story 2", "Elsewhere story"]),
        ("/sections/chips/feed/", ["Live story 0", "Live story 1", "Live story 2"]),
        ("/authors/ada-reporter/feed/atom/", ["Live story 0", "Live story 1", "Live story 2"]),
        ("/tags/semiconductors/feed/", ["Live story 0", "Live story 1", "Live story 2"]),
        ("/sections/phones/feed/atom/", ["Elsewhere story"]),
        ("/authors/bo-writer/feed/", ["Elsewhere story"]),
        ("/tags/android/feed/atom/", ["Elsewhere story"]),
    ],
)
def test_subject_feeds_list_only_their_own_articles(client, newsroom, url, expected):
    assert titles(parse(client.get(url))) == expected


@pytest.mark.parametrize(
    "url, title, self_url",
    [
        ("/sections/chips/feed/", "Conclave TechMedia: Chips", "/sections/chips/feed/"),
        ("/authors/ada-reporter/feed/", "Conclave TechMedia: Ada Reporter", "/authors/ada-reporter/feed/"),
        ("/tags/semiconductors/feed/", "Conclave TechMedia: Semiconductors", "/tags/semiconductors/feed/"),
    ],
)
def test_subject_rss_channel_names_its_subject(client, newsroom, url, title, self_url):
    channel = parse(client.get(url)).find("channel")
    assert channel.findtext("title") == title
    assert channel.findtext("link") == SITE + url.removesuffix("feed/")
    assert channel.find(f"{ATOM}link").get("href") == SITE + self_url


@pytest.mark.parametrize(
    "url, title",
    [
        ("/sections/chips/feed/atom/", "Conclave TechMedia: Chips"),
        ("/authors/ada-reporter/feed/atom/", "Conclave TechMedia: Ada Reporter"),
        ("/tags/semiconductors/feed/atom/", "Conclave TechMedia: Semiconductors"),
    ],
)
def test_subject_atom_feed_names_its_subject(client, newsroom, url, title):
    root = parse(client.get(url))
    assert root.findtext(f"{ATOM}title") == title
    assert root.findtext(f"{ATOM}id") == SITE + url
    links = {link.get("rel"): link.get("href") for link in root.findall(f"{ATOM}link")}
    assert links == {"alternate": SITE + url.removesuffix("feed/atom/"), "self": SITE + url}


@pytest.mark.parametrize("kind", ["sections", "authors", "tags"])
@pytest.mark.parametrize("suffix", ["feed/", "feed/atom/"])
def test_unknown_subjects_are_404(client, newsroom, kind, suffix):
    assert client.get(f"/{kind}/nope/{suffix}").status_code == 404


@pytest.mark.parametrize("kind", ["sections", "authors", "tags"])
def test_a_subject_without_articles_has_an_empty_valid_feed(client, db, kind):
    SectionFactory(name="Quiet", slug="quiet")
    AuthorFactory(name="Quiet", slug="quiet")
    TagFactory(name="Quiet", slug="quiet", show_early=True)  # a tag's only if an editor opened it early
    assert rss_items(parse(client.get(f"/{kind}/quiet/feed/"))) == []
    assert parse(client.get(f"/{kind}/quiet/feed/atom/")).findall(f"{ATOM}entry") == []


def test_a_tag_with_no_published_story_has_no_feed(client, db):
    tag = TagFactory(name="Free crypto giveaway", slug="free-crypto-giveaway")
    ArticleFactory(tags=[tag], status="draft", published_at=None)
    ArticleFactory(tags=[tag], published_at=timezone.now() + datetime.timedelta(hours=1))
    for suffix in ["feed/", "feed/atom/"]:
        assert client.get(f"/tags/free-crypto-giveaway/{suffix}").status_code == 404


def test_rss_titles_are_html_text_and_atom_titles_plain_text(client, db):
    """RSS readers decode titles as HTML: a headline that looks like markup must still read as written."""
    headline = 'Why <b>bold</b> & "AI" matter'
    tag = TagFactory(name="R&D <i>labs</i>", slug="r-d-labs")
    ArticleFactory(title=headline, standfirst="Fish & <chips>", tags=[tag])

    rss = client.get("/tags/r-d-labs/feed/").content.decode()
    assert '<title>Why &amp;lt;b&amp;gt;bold&amp;lt;/b&amp;gt; &amp;amp; "AI" matter</title>' in rss
    channel = ET.fromstring(rss).find("channel")  # noqa: S314 -- our own output
    item = rss_items(ET.fromstring(rss))[0]  # noqa: S314
    # What a reader that decodes them as HTML shows: the text as written, no markup.
    assert html.unescape(item.findtext("title")) == headline
    assert html.unescape(item.findtext("description")) == "Fish & <chips>"
    assert html.unescape(channel.findtext("title")) == "Conclave TechMedia: R&D <i>labs</i>"
    assert "<i>" not in channel.findtext("title") and "<i>" not in channel.findtext("description")
    assert html.unescape(channel.findtext("description")).startswith(
        "The latest articles about R&D <i>labs</i>"
    )

    atom = parse(client.get("/tags/r-d-labs/feed/atom/"))
    entry = atom.find(f"{ATOM}entry")
    assert entry.find(f"{ATOM}title").get("type") in (None, "text")
    assert entry.findtext(f"{ATOM}title") == headline
    assert atom.findtext(f"{ATOM}title") == "Conclave TechMedia: R&D <i>labs</i>"
    assert atom.findtext(f"{ATOM}subtitle").startswith("The latest articles about R&D <i>labs</i>")
    summary = entry.find(f"{ATOM}summary")
    assert summary.get("type") == "html" and html.unescape(summary.text) == "Fish & <chips>"


def test_hostile_text_gives_well_formed_feeds(client, db):
    title = 'Breaking: <script>alert("x")</script> & ]]> <![CDATA[ \x0bnews'
    tag = TagFactory(name="R&D <b>", slug="r-d")
    ArticleFactory(
        title=title,
        standfirst="Fish & <chips> ]]>",
        body="Code: `]]>` and <script>alert(1)</script> done.",
        tags=[tag],
        authors=[AuthorFactory(name="O'Brien & <Sons>", slug="obrien")],
    )
    expected_title = title.replace("\x0b", "")
    for url in ["/feed/", "/feed/atom/", "/tags/r-d/feed/", "/tags/r-d/feed/atom/", "/authors/obrien/feed/"]:
        root = parse(client.get(url))  # ET.fromstring raises on anything that is not well-formed XML
        assert titles(root) == [expected_title]
    item = rss_items(parse(client.get("/feed/")))[0]
    assert item.findtext("category") == "R&D <b>"
    assert item.findtext(f"{DC}creator") == "O'Brien & <Sons>"
    assert "<script>" not in item.findtext(f"{CONTENT}encoded")  # the sanitizer's work, carried through
    assert "<code>]]&gt;</code>" in item.findtext(f"{CONTENT}encoded")
    channel = parse(client.get("/tags/r-d/feed/")).find("channel")
    assert html.unescape(channel.findtext("title")) == "Conclave TechMedia: R&D <b>"


def test_revision_moves_updated_dates_but_not_the_publication_date(client, db, time_machine):
    article = ArticleFactory(title="Original headline")
    time_machine.move_to(timezone.now() + datetime.timedelta(hours=2), tick=False)
    article.title = "Corrected headline"
    article.save()
    article.refresh_from_db()
    assert article.revised_at > article.published_at

    channel = parse(client.get("/feed/")).find("channel")
    assert parsedate_to_datetime(channel.findtext("lastBuildDate")) == article.revised_at.replace(
        microsecond=0
    )
    assert parsedate_to_datetime(channel.findtext("item/pubDate")) == article.published_at.replace(
        microsecond=0
    )
    entry = parse(client.get("/feed/atom/")).find(f"{ATOM}entry")
    assert rfc3339(entry.findtext(f"{ATOM}updated")) == article.revised_at
    assert rfc3339(entry.findtext(f"{ATOM}published")) == article.published_at


def _queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize(
    "url, budget",
    [
        ("/feed/", 3),  # articles, their authors, their tags
        ("/feed/atom/", 3),
        ("/sections/chips/feed/", 4),  # plus the section itself
        ("/authors/ada-reporter/feed/atom/", 4),
        ("/tags/semiconductors/feed/", 4),
    ],
)
def test_query_count_does_not_grow_with_the_items(client, db, no_page_cache, url, budget):
    section = SectionFactory(name="Chips", slug="chips")
    authors = [AuthorFactory(name="Ada Reporter", slug="ada-reporter"), AuthorFactory()]
    tags = [TagFactory(name="Semiconductors", slug="semiconductors"), TagFactory()]

    def add(count):
        for _ in range(count):
            ArticleFactory(section=section, authors=authors, tags=tags)

    add(5)
    few = _queries(client, url)
    add(20)
    many = _queries(client, url)
    assert len(titles(parse(client.get(url)))) == 20
    assert few == many == budget
