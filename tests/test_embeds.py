"""Embeds (articles/embeds/): which URLs become embeds, the fetcher's refusals, the stored metadata, the
facades, and the article page, feeds, emails and commands that show them.

Providers are faked on 127.0.0.1 (tests/support/fake_providers.py) through EMBEDS_TEST_RESOLVE; every
other host is refused without a DNS lookup, so nothing here reaches the network.
"""

import re
import socket
import time

import pytest

from articles.embeds import facades, fetching, providers
from articles.models import Article, Embed
from tests.factories import ArticleFactory
from tests.support.fake_providers import (
    BLUESKY_URL,
    CODEPEN_URL,
    GIST_URL,
    MASTODON_URL,
    VIDEO_ID,
    VIMEO_URL,
    X_URL,
    YOUTUBE_URL,
    Answer,
    jpeg_bytes,
)
from tests.support.hostile_checker import unsafe_parts

OEMBED = ("www.youtube.com", "/oembed")
THUMB = ("i.ytimg.com", f"/vi/{VIDEO_ID}/hqdefault.jpg")


def story(*urls, **fields):
    body = "Before the embeds.\n\n" + "\n\n".join(urls) + "\n\nAfter them."
    return ArticleFactory(body=body, **fields)


# Which URLs are embeds.


@pytest.mark.parametrize(
    "url, provider, id_",
    [
        (YOUTUBE_URL, "youtube", VIDEO_ID),
        (f"https://youtu.be/{VIDEO_ID}", "youtube", VIDEO_ID),
        (f"https://m.youtube.com/watch?v={VIDEO_ID}&t=42", "youtube", VIDEO_ID),
        (f"https://www.youtube.com/shorts/{VIDEO_ID}", "youtube", VIDEO_ID),
        (VIMEO_URL, "vimeo", "76979871"),
        ("https://player.vimeo.com/video/76979871", "vimeo", "76979871"),
        (X_URL, "x", "1858123456789012345"),
        ("https://twitter.com/jack/status/20", "x", "20"),
        (BLUESKY_URL, "bluesky", "3lbqta5lnck2i"),
        (MASTODON_URL, "mastodon", "113502864120394117"),
        ("https://fosstodon.org/@someone/112233445566", "mastodon", "112233445566"),
        (GIST_URL, "gist", "5b1f3c2a9d8e4f60a7b1c2d3e4f5a6b7"),
        ("https://gist.github.com/0123456789abcdef0123", "gist", "0123456789abcdef0123"),
        (CODEPEN_URL, "codepen", "abcDEF1"),
    ],
)
def test_provider_urls_are_recognised(url, provider, id_):
    found = providers.match(url)
    assert (found.provider.key, found.id) == (provider, id_)


@pytest.mark.parametrize(
    "url",
    [
        f"https://youtube.com.evil.example/watch?v={VIDEO_ID}",
        f"https://www.youtube.com.evil.example/watch?v={VIDEO_ID}",
        f"https://evilyoutube.com/watch?v={VIDEO_ID}",
        f"http://www.youtube.com/watch?v={VIDEO_ID}",  # not https
        f"https://www.youtube.com:8443/watch?v={VIDEO_ID}",
        f"https://user@www.youtube.com/watch?v={VIDEO_ID}",
        f"https://www.youtube.com/watch?v={VIDEO_ID}x",  # not an 11-character id
        f"https://www.youtube.com/watch?v={VIDEO_ID}&v=AAAAAAAAAAA",
        f"https://www.youtube.com/{VIDEO_ID}",  # a page, not a video
        f"https://www.youtube.com/watch?v={VIDEO_ID} trailing words",
        f"javascript:alert(1)//https://www.youtube.com/watch?v={VIDEO_ID}",
        f"https://www.youtube.com/watch?v={VIDEO_ID}<script>",
        "https://vimeo.com/channels/staffpicks",
        "https://x.com/jack",
        "https://gist.github.com/conclave-labs/not-hex",
        # A Mastodon-shaped path on no DNS name, or on a named provider's host.
        "https://127.0.0.1/@user/123",
        "https://[::1]/@user/123",
        "https://localhost/@user/123",
        "https://mastodon.social/@user/12ab",
        "https://www.youtube.com/@user/123",
        "https://mastodon.social./@user/123",
        "https://xn--80ak6aa92e.com@mastodon.social/@user/123",
        "",
        "https://",
        "https://www.youtube.com/watch?v=Qx3TeardwnA\nhttps://vimeo.com/1",
    ],
)
def test_lookalikes_and_oddities_are_not_embeds(url):
    assert providers.match(url) is None


def test_only_a_url_alone_in_its_paragraph_is_an_embed(db, fake_providers):
    article = ArticleFactory(body=f"Watch {YOUTUBE_URL} now.\n\nText\n{VIMEO_URL}\n\n    {MASTODON_URL}\n")
    assert "<figure" not in article.body_html
    assert fake_providers.requests == []


# The fetcher's refusals.


@pytest.mark.parametrize(
    "address, public",
    [
        ("8.8.8.8", True),
        ("2a00:1450:4001::200e", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),  # noqa: S104
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("not an address", False),
    ],
)
def test_only_public_addresses_may_be_reached(address, public):
    assert fetching.public_address(address) is public


def test_a_host_that_resolves_to_a_private_address_is_refused_before_connecting(settings, monkeypatch):
    settings.EMBEDS_TEST_RESOLVE = None  # the real path: resolve, check, connect
    connected = []
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda *a, **k: [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 443)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 443)),
        ],
    )
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: connected.append(a) or 1 / 0)
    with pytest.raises(fetching.FetchError, match="private or reserved"):
        fetching.get("https://www.youtube.com/oembed", {"www.youtube.com"}, max_bytes=10, accept="*/*")
    assert connected == []


def test_the_checked_address_is_the_one_connected_to(settings, monkeypatch):
    settings.EMBEDS_TEST_RESOLVE = None
    connected = []
    public = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 443))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: public)

    def refuse(address, timeout):
        connected.append(address)
        raise ConnectionRefusedError

    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(fetching.FetchError, match="could not connect"):
        fetching.get("https://www.youtube.com/oembed", {"www.youtube.com"}, max_bytes=10, accept="*/*")
    assert connected == [("93.184.216.34", 443)]


def test_tests_never_resolve_a_host_they_did_not_map(settings, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: pytest.fail("a DNS lookup in a test"))
    with pytest.raises(fetching.FetchError, match="not reachable in tests"):
        fetching.get("https://www.youtube.com/oembed", {"www.youtube.com"}, max_bytes=10, accept="*/*")


@pytest.mark.parametrize(
    "url",
    [
        "http://www.youtube.com/oembed",
        "https://www.youtube.com:444/oembed",
        "https://a:b@www.youtube.com/oembed",
        "https://evil.example/oembed",
        "https://127.0.0.1/oembed",
    ],
)
def test_only_plain_https_urls_of_allowed_hosts_are_fetched(fake_providers, url):
    with pytest.raises(fetching.FetchError):
        fetching.get(url, {"www.youtube.com"}, max_bytes=1000, accept="*/*")
    assert fake_providers.requests == []


@pytest.mark.parametrize(
    "location",
    [
        "https://evil.example/oembed",  # another host (the fake server would answer it)
        "http://www.youtube.com/oembed",  # down to http
        "http://127.0.0.1/",
        "https://127.0.0.1/oembed",
        "https://169.254.169.254/latest/meta-data/",
        "//evil.example/x",
        "https://www.youtube.com@evil.example/",
    ],
)
def test_redirects_off_the_allowlist_are_refused(db, fake_providers, location):
    fake_providers.answer(*OEMBED, Answer.redirect(location))
    article = story(YOUTUBE_URL)
    embed = Embed.objects.get(url=YOUTUBE_URL)
    assert embed.status == Embed.Status.FAILED
    assert "refused" in embed.error
    assert [host for host, _ in fake_providers.requests] == ["www.youtube.com"]
    assert 'class="embed embed--link"' in article.body_html


def test_redirects_within_the_allowlist_are_followed_a_few_times(db, fake_providers):
    good = fake_providers.answers[OEMBED]
    fake_providers.answer("www.youtube.com", "/moved", good)
    fake_providers.answer(*OEMBED, Answer.redirect("/moved", status=301))
    story(YOUTUBE_URL)
    assert Embed.objects.get(url=YOUTUBE_URL).status == Embed.Status.OK
    for hop in range(5):  # a loop: refused after MAX_REDIRECTS
        fake_providers.answer("www.youtube.com", f"/loop{hop}", Answer.redirect(f"/loop{hop + 1}"))
    with pytest.raises(fetching.FetchError, match="too many redirects"):
        fetching.get("https://www.youtube.com/loop0", {"www.youtube.com"}, max_bytes=1000, accept="*/*")


def test_answers_over_the_size_limit_are_refused(fake_providers):
    hosts = {"www.youtube.com"}
    fake_providers.answer("www.youtube.com", "/big", Answer(body=b"x" * 2000))
    with pytest.raises(fetching.FetchError, match="too large"):
        fetching.get("https://www.youtube.com/big", hosts, max_bytes=1000, accept="*/*")
    # A body longer than it said: read up to the limit and no further.
    fake_providers.answer("www.youtube.com", "/lying", Answer(body=b"x" * 2000, length=10))
    body, _ = fetching.get("https://www.youtube.com/lying", hosts, max_bytes=1000, accept="*/*")
    assert len(body) <= 1000


def test_a_slow_or_trickling_answer_is_cut_off_at_the_deadline(fake_providers):
    hosts = {"www.youtube.com"}
    fake_providers.answer("www.youtube.com", "/slow", Answer(body=b"{}", delay=2))
    fake_providers.answer("www.youtube.com", "/trickle", Answer(body=b"x" * 100, trickle=0.1))
    for path in ("/slow", "/trickle"):
        started = time.monotonic()
        with pytest.raises(fetching.FetchError, match="no answer within"):
            fetching.get(f"https://www.youtube.com{path}", hosts, max_bytes=1000, accept="*/*", timeout=0.7)
        assert time.monotonic() - started < 1.5


# What is stored, and the facades.


def test_a_video_facade_shows_our_copy_of_the_thumbnail_and_names_the_private_player(db, fake_providers):
    article = story(YOUTUBE_URL)
    embed = Embed.objects.get(url=YOUTUBE_URL)
    assert (embed.status, embed.provider, embed.kind) == ("ok", "youtube", "video")
    assert embed.title == "Quantix Q3 teardown, narrated"
    assert embed.thumbnail.name.startswith("embeds/") and embed.thumbnail.name.endswith(".webp")
    assert (embed.width, embed.height) == (640, 360)
    html = article.body_html
    assert f'data-embed-src="https://www.youtube-nocookie.com/embed/{VIDEO_ID}"' in html
    assert f'<img src="{embed.thumbnail.url}" width="640" height="360"' in html
    assert f'<a class="embed__action" href="{YOUTUBE_URL}" rel="noopener noreferrer">Watch on YouTube' in html
    assert "ytimg" not in html and "<iframe" not in html and "<script" not in html
    assert unsafe_parts(html, "fragment") == []
    assert list(article.embeds.all()) == [embed]
    # The excerpt is the story's words, not the facade's.
    assert article.excerpt == "Before the embeds. After them."


def test_large_thumbnails_are_scaled_down(db, fake_providers):
    fake_providers.answer(*THUMB, Answer(body=jpeg_bytes((2400, 1350)), type="image/jpeg"))
    story(YOUTUBE_URL)
    embed = Embed.objects.get(url=YOUTUBE_URL)
    assert (embed.width, embed.height) == (1280, 720)


@pytest.mark.parametrize(
    "url, expected",
    [
        (MASTODON_URL, ["about the Q3 card&#x27;s cooling.<br><br>Thread below.", "19 November 2024"]),
        (X_URL, ["Our Q3 card is out.<br>Teardown soon.", "19 November 2024"]),
        (BLUESKY_URL, ["Bluesky post text", "20 November 2024"]),
    ],
)
def test_posts_are_our_stored_text_and_never_load_anything(db, fake_providers, url, expected):
    article = story(url)
    html = article.body_html
    for text in expected:
        assert text in html
    assert 'class="embed embed--post"' in html
    assert "data-embed-src" not in html and "<iframe" not in html and "<script" not in html
    assert "Open post on" in html


def test_a_gist_is_its_code_as_text(db, fake_providers):
    html = story(GIST_URL).body_html
    assert '<pre class="embed__code"><code>print(&#x27;&lt;b&gt;watts&lt;/b&gt;&#x27;)' in html
    assert "data-embed-src" not in html


def test_a_codepen_loads_its_sandboxed_embed_page(db, fake_providers):
    html = story(CODEPEN_URL).body_html
    assert 'data-embed-src="https://codepen.io/quantix/embed/abcDEF1?default-tab=result"' in html
    assert 'data-embed-sandbox="allow-scripts allow-same-origin allow-popups"' in html


def test_a_failed_fetch_still_saves_the_story_with_a_link_card(db, fake_providers):
    fake_providers.answer(*OEMBED, Answer(status=500))
    article = story(YOUTUBE_URL)
    assert Article.objects.filter(pk=article.pk).exists()
    embed = Embed.objects.get(url=YOUTUBE_URL)
    assert embed.status == "failed" and "500" in embed.error
    assert (
        f'<figcaption class="embed__caption"><span class="embed__provider">YouTube</span> '
        f'<a class="embed__action" href="{YOUTUBE_URL}" rel="noopener noreferrer">{YOUTUBE_URL}</a>'
    ) in article.body_html
    assert "data-embed-src" not in article.body_html


def test_a_stored_embed_is_not_fetched_again_by_a_save(db, fake_providers):
    article = story(YOUTUBE_URL)
    fake_providers.requests.clear()
    article.body += "\n\nMore."
    article.save()
    story(YOUTUBE_URL, title="Another story")
    assert fake_providers.requests == []


def test_facades_and_the_renderer_keep_urls_as_written():
    assert facades.frame_origins('<p>data-embed-src="https://evil.example/"</p>') == []
    forged = '<figure class="embed embed--video" data-embed-src="https://evil.example/x">'
    assert facades.frame_origins(forged) == []


def _count(pattern, text):
    return len(re.findall(pattern, text))
