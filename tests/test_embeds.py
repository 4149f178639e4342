"""Embeds (articles/embeds/): which URLs become embeds, the fetcher's refusals, the stored metadata, the
facades, and the article page, feeds, emails and commands that show them.

Providers are faked on 127.0.0.1 (tests/support/fake_providers.py) through EMBEDS_TEST_RESOLVE; every
other host is refused without a DNS lookup, so nothing here reaches the network.
"""

import datetime
import io
import socket
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from articles.embeds import facades, fetching, providers
from articles.embeds import models as embed_models
from articles.models import Article, Embed, Follow, Subscriber
from tests.factories import ArticleFactory, TagFactory, library_image
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
from tests.support.headers import content_security_policy as csp_of
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
        with pytest.raises(fetching.FetchError, match="took too long"):
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
    # Focusable: its box scrolls (max-height), and a keyboard must be able to scroll it too.
    assert '<pre class="embed__code" tabindex="0"><code>print(&#x27;&lt;b&gt;watts&lt;/b&gt;&#x27;)' in html
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


# The article page: frame-src, Permissions-Policy and the script only where players are.


def permissions_of(response):
    return dict(item.split("=", 1) for item in response["Permissions-Policy"].split(", "))


def test_a_page_with_players_allows_exactly_their_frames(db, client, fake_providers):
    article = story(YOUTUBE_URL, MASTODON_URL, GIST_URL)
    response = client.get(article.get_absolute_url())
    assert csp_of(response)["frame-src"] == ["https://www.youtube-nocookie.com"]
    assert csp_of(response)["default-src"] == ["'none'"]
    permissions = permissions_of(response)
    for feature in ("autoplay", "fullscreen", "picture-in-picture", "encrypted-media"):
        assert permissions[feature] == '(self "https://www.youtube-nocookie.com")', feature
    assert permissions["camera"] == "()"
    page = response.content.decode()
    assert page.count('src="/static/js/embeds.js"') == 1
    assert "<iframe" not in page
    # The page cache keeps the page with its policy.
    assert csp_of(client.get(article.get_absolute_url()))["frame-src"] == ["https://www.youtube-nocookie.com"]


def test_every_player_shown_and_no_other_is_named(db, client, fake_providers):
    article = story(YOUTUBE_URL, VIMEO_URL, CODEPEN_URL)
    response = client.get(article.get_absolute_url())
    assert csp_of(response)["frame-src"] == [
        "https://codepen.io",
        "https://player.vimeo.com",
        "https://www.youtube-nocookie.com",
    ]
    permissions = permissions_of(response)
    assert "https://codepen.io" in permissions["fullscreen"]
    assert "https://codepen.io" not in permissions["autoplay"]


@pytest.mark.parametrize("urls", [(), (MASTODON_URL, GIST_URL, X_URL)])
def test_pages_without_players_allow_no_frames_and_load_no_script(db, client, fake_providers, urls):
    article = story(*urls)
    response = client.get(article.get_absolute_url())
    assert "frame-src" not in csp_of(response)
    assert permissions_of(response)["autoplay"] == "()"
    assert "fullscreen" not in permissions_of(response)
    assert "embeds.js" not in response.content.decode()


def test_a_failed_video_is_a_link_and_allows_no_frame(db, client, fake_providers):
    fake_providers.answer(*OEMBED, Answer(status=404))
    response = client.get(story(YOUTUBE_URL).get_absolute_url())
    assert "frame-src" not in csp_of(response)
    assert "embeds.js" not in response.content.decode()


def test_the_article_page_with_twenty_figures_and_five_embeds_keeps_its_query_budget(
    db, client, no_page_cache, django_assert_max_num_queries, fake_providers
):
    pictures = [library_image(alt=f"Part {n}") for n in range(20)]
    gallery = "\n".join(f"![](image:{p.pk})" for p in pictures[:6])
    figures = [f"![](image:{p.pk})" for p in pictures[6:]]
    embeds = [YOUTUBE_URL, VIMEO_URL, MASTODON_URL, GIST_URL, CODEPEN_URL]
    # Figures, a gallery and embeds interleaved, as a long teardown story has them.
    article = story(gallery, *figures[:7], *embeds, *figures[7:], hero=pictures[0])
    assert article.embeds.count() == 5 and article.figures.count() == 20
    with django_assert_max_num_queries(6):  # the budget of tests/test_article_page.py
        response = client.get(article.get_absolute_url())
    page = response.content.decode()
    assert page.count('<figure class="embed ') == 5
    assert all(f'alt="Part {n}"' in page for n in range(20))


def test_the_script_is_small_and_builds_the_sandboxed_frame():
    script = (Path(__file__).resolve().parent.parent / "static" / "js" / "embeds.js").read_text()
    assert len(script.encode()) < 4096
    for needle in ('"sandbox"', '"allow"', '"referrerpolicy", "strict-origin-when-cross-origin"', "ORIGINS"):
        assert needle in script
    assert "innerHTML" not in script and "eval(" not in script


# Feeds, emails, the admin's preview.


def test_feeds_carry_embeds_as_links_with_their_stored_titles(db, client, fake_providers):
    fake_providers.answer("vimeo.com", "/api/oembed.json", Answer(status=500))
    story(YOUTUBE_URL, MASTODON_URL, VIMEO_URL)
    for path in ("/feed/", "/feed/atom/"):
        content = client.get(path).content.decode()
        title = "Quantix Q3 teardown, narrated (YouTube)"
        assert f'&lt;p&gt;&lt;a href="{YOUTUBE_URL}"&gt;{title}&lt;/a&gt;' in content, path
        assert f'&lt;a href="{MASTODON_URL}"&gt;Quantix Labs (Mastodon)&lt;/a&gt;' in content
        assert f'&lt;a href="{VIMEO_URL}"&gt;Vimeo: {VIMEO_URL}&lt;/a&gt;' in content
        assert "figure" not in content and "data-embed" not in content and "embeds/" not in content


def test_emails_summarise_the_story_without_the_facades(db, fake_providers):
    tag = TagFactory()
    since = timezone.now() - datetime.timedelta(days=2)
    subscriber = Subscriber.objects.create(email="reader@example.com", confirmed_at=since)
    Follow.objects.create(subscriber=subscriber, tag=tag)
    Follow.objects.update(created_at=since)
    Subscriber.objects.update(created_at=since)
    story(YOUTUBE_URL, MASTODON_URL, tags=[tag], standfirst="")
    call_command("send_notifications", stdout=io.StringIO())
    [message] = mail.outbox
    html = message.alternatives[0][0]
    for text in (message.body, html):
        assert "Before the embeds. After them." in text
        assert "Watch on" not in text and "embed__" not in text and "Ask me anything" not in text


def test_the_admin_preview_shows_facades(db, editor_client, fake_providers):
    response = editor_client.post(
        "/admin/articles/article/preview-markdown/", {"body": f"Intro\n\n{YOUTUBE_URL}\n"}
    )
    assert response.status_code == 200
    assert 'class="embed embed--video"' in response.json()["html"]


def test_the_admin_fetches_before_its_transaction_and_saves(db, editor_client, fake_providers, monkeypatch):
    seen = []
    real_refresh = embed_models.Embed.refresh

    def refresh(self):
        seen.append(connection.in_atomic_block and len(connection.atomic_blocks))
        real_refresh(self)

    monkeypatch.setattr(embed_models.Embed, "refresh", refresh)
    form = {
        "title": "Embeds from the admin",
        "slug": "embeds-from-the-admin",
        "body": f"Intro\n\n{YOUTUBE_URL}\n",
        "status": "draft",
        "corrections-TOTAL_FORMS": "0",
        "corrections-INITIAL_FORMS": "0",
    }
    response = editor_client.post("/admin/articles/article/add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    article = Article.objects.get(slug="embeds-from-the-admin")
    assert 'class="embed embed--video"' in article.body_html
    # Fetched once, at the depth of the test's own transaction: not inside the admin's.
    assert seen == [1]


# refresh_embeds, and refreshed embeds in the stories that show them.


def test_refresh_embeds_retries_failed_ones_and_renders_their_stories_again(db, fake_providers):
    good = fake_providers.answers[OEMBED]
    fake_providers.answer(*OEMBED, Answer(status=503))
    article = story(YOUTUBE_URL)
    assert 'class="embed embed--link"' in article.body_html
    fake_providers.answer(*OEMBED, good)
    out = io.StringIO()
    call_command("refresh_embeds", stdout=out)
    assert "1 embed(s) fetched, 0 still shown as links." in out.getvalue()
    article.refresh_from_db()
    assert 'class="embed embed--video"' in article.body_html
    assert "Quantix Q3 teardown, narrated" in article.body_html


def test_refresh_all_updates_titles_and_keeps_a_good_fetch_through_a_failure(db, fake_providers):
    article = story(YOUTUBE_URL)
    fake_providers.answer(*OEMBED, Answer.json({"title": "A new title", "thumbnail_url": ""}))
    call_command("refresh_embeds", "--all", stdout=io.StringIO())
    article.refresh_from_db()
    assert "A new title" in article.body_html
    fake_providers.answer(*OEMBED, Answer(status=500))
    call_command("refresh_embeds", "--all", stdout=io.StringIO())
    embed = Embed.objects.get(url=YOUTUBE_URL)
    assert (embed.status, embed.title) == ("ok", "A new title") and "500" in embed.error
    article.refresh_from_db()
    assert "A new title" in article.body_html


EMBED_LIST = "/admin/articles/embed/"


def newsroom_user(django_user_model, role):
    user = django_user_model.objects.create_user(role, f"{role}@example.com", "pw", is_staff=True)
    user.groups.add(Group.objects.get(name=role.capitalize()))
    return user


def fetch_again(client, *embeds):
    return client.post(
        EMBED_LIST,
        {"action": "fetch_again", "_selected_action": [embed.pk for embed in embeds]},
        follow=True,
    )


def test_editors_see_failed_embeds_and_why_then_fetch_them_again(
    db, client, django_user_model, fake_providers
):
    good = fake_providers.answers[OEMBED]
    fake_providers.answer(*OEMBED, Answer(status=503))
    article = story(YOUTUBE_URL, MASTODON_URL)
    client.force_login(newsroom_user(django_user_model, "editor"))
    page = client.get(EMBED_LIST, {"status__exact": "failed"}).content.decode()
    assert YOUTUBE_URL.replace("&", "&amp;") in page and "503" in page
    assert MASTODON_URL not in page  # fetched fine: not in the failed list
    assert "Add embed" not in page

    fake_providers.answer(*OEMBED, good)
    response = fetch_again(client, Embed.objects.get(url=YOUTUBE_URL))
    assert "1 fetched." in response.content.decode()
    assert Embed.objects.get(url=YOUTUBE_URL).status == "ok"
    article.refresh_from_db()
    assert 'class="embed embed--video"' in article.body_html  # the story shows the facade now


def test_a_fetch_that_fails_again_says_so_and_keeps_the_last_good_one(db, editor_client, fake_providers):
    story(YOUTUBE_URL)
    fake_providers.answer(*OEMBED, Answer(status=500))
    page = fetch_again(editor_client, Embed.objects.get(url=YOUTUBE_URL)).content.decode()
    assert "0 fetched." in page and "still a facade from the last good fetch" in page
    assert Embed.objects.get(url=YOUTUBE_URL).status == "ok"


def test_one_click_fetches_a_bounded_batch(db, editor_client, fake_providers, monkeypatch):
    monkeypatch.setattr(embed_models, "MAX_FETCHES_PER_SAVE", 1)
    monkeypatch.setattr("articles.admin.embeds.MAX_FETCHES_PER_SAVE", 1)
    story(YOUTUBE_URL, VIMEO_URL)
    before = list(Embed.objects.values_list("fetched_at", flat=True).order_by("pk"))
    page = fetch_again(editor_client, *Embed.objects.all()).content.decode()
    assert "At most 1 embeds at a time" in page
    assert list(Embed.objects.values_list("fetched_at", flat=True).order_by("pk")) == before


def test_writers_see_embeds_but_fetch_nothing_and_no_one_edits_or_deletes(
    db, client, django_user_model, fake_providers
):
    story(YOUTUBE_URL)
    embed = Embed.objects.get()
    client.force_login(newsroom_user(django_user_model, "writer"))
    assert client.get(EMBED_LIST).status_code == 200
    before = embed.fetched_at
    fetch_again(client, embed)
    embed.refresh_from_db()
    assert embed.fetched_at == before
    page = client.get(f"{EMBED_LIST}{embed.pk}/change/").content.decode()
    assert "Quantix Q3 teardown, narrated" in page and 'name="_save"' not in page
    client.force_login(newsroom_user(django_user_model, "editor"))
    page = client.get(f"{EMBED_LIST}{embed.pk}/change/").content.decode()
    assert 'name="_save"' not in page and 'name="title"' not in page
    assert client.get(f"{EMBED_LIST}{embed.pk}/delete/").status_code == 403
    assert client.get(f"{EMBED_LIST}add/").status_code == 403


def test_a_failed_embed_is_tried_again_by_a_later_save(db, fake_providers, time_machine):
    good = fake_providers.answers[OEMBED]
    fake_providers.answer(*OEMBED, Answer(status=500))
    article = story(YOUTUBE_URL)
    fake_providers.answer(*OEMBED, good)
    article.save()  # too soon: not asked again
    assert Embed.objects.get(url=YOUTUBE_URL).status == "failed"
    time_machine.move_to(timezone.now() + datetime.timedelta(hours=1))
    article.render_body(force=True)
    article.save()
    assert Embed.objects.get(url=YOUTUBE_URL).status == "ok"
    assert 'class="embed embed--video"' in article.body_html


# Hostile answers.


@pytest.mark.parametrize(
    "answer",
    [
        Answer.json({"title": 42, "thumbnail_url": ["x"]}),  # wrong types: no title
        Answer.json(["a", "list"]),
        Answer(body=b"<html>not json</html>", type="text/html"),
        Answer(body=b"[" * 100_000),  # nesting bomb
        Answer(body=b"{" + b'"a": "' + b"x" * (600 * 1024) + b'"}'),  # over 512 KB
        Answer(body=b'{"title": "slow"}', delay=6),
        Answer.redirect("https://evil.example/oembed"),
        Answer.json({"title": "  \u0000\u200b  "}),  # nothing left of the title
    ],
    ids=["types", "list", "html", "nesting", "huge", "slow", "redirect", "blank"],
)
def test_hostile_answers_leave_a_link_card(db, fake_providers, answer, monkeypatch):
    monkeypatch.setattr(fetching, "TIMEOUT", 1.0)
    fake_providers.answer(*OEMBED, answer)
    article = story(YOUTUBE_URL)
    assert Embed.objects.get(url=YOUTUBE_URL).status == "failed"
    assert 'class="embed embed--link"' in article.body_html
    assert unsafe_parts(article.body_html, "fragment") == []


def test_hostile_strings_in_an_answer_are_plain_text(db, fake_providers):
    fake_providers.answer(
        *OEMBED,
        Answer.json(
            {
                "title": '<script>alert(1)</script><img src=x onerror=alert(2)>Real "title" &amp; more',
                "author_name": "<b>Bold</b>\u202eevil",
                "author_url": "javascript:alert(3)",
                "thumbnail_url": f"https://i.ytimg.com/vi/{VIDEO_ID}/hqdefault.jpg",
            }
        ),
    )
    article = story(YOUTUBE_URL)
    embed = Embed.objects.get(url=YOUTUBE_URL)
    assert embed.title == 'Real "title" & more'
    assert embed.author_url == ""
    assert "<" not in embed.author_name
    assert unsafe_parts(article.body_html, "fragment") == []
    assert "Real &quot;title&quot; &amp; more" in article.body_html


def test_a_post_by_someone_else_is_refused(db, fake_providers):
    path = "/api/v1/statuses/113502864120394117"
    answer = fake_providers.answers[("mastodon.social", path)]
    fake_providers.answer(
        "mastodon.social",
        path,
        Answer(body=answer.body.replace(b'"acct": "quantixlabs"', b'"acct": "mallory"')),
    )
    story(MASTODON_URL)
    embed = Embed.objects.get(url=MASTODON_URL)
    assert embed.status == "failed" and "not by @quantixlabs" in embed.error


@pytest.mark.parametrize(
    "thumbnail, note",
    [
        (Answer(body=b"GIF89a not really", type="image/gif"), "not a JPEG"),
        (Answer(body=b"<svg onload=alert(1)></svg>", type="image/svg+xml"), "not a JPEG"),
        (Answer(body=jpeg_bytes(), type="text/html"), "not an image"),
        (Answer(body=b"x" * (2 * 1024 * 1024 + 10), type="image/jpeg"), "too large"),
        (Answer.redirect("https://evil.example/x.jpg"), "refused"),
        (Answer(status=404), "404"),
    ],
    ids=["broken", "svg", "html", "huge", "redirect", "missing"],
)
def test_a_bad_thumbnail_leaves_a_facade_without_a_picture(db, fake_providers, thumbnail, note):
    fake_providers.answer(*THUMB, thumbnail)
    article = story(YOUTUBE_URL)
    embed = Embed.objects.get(url=YOUTUBE_URL)
    assert embed.status == "ok" and not embed.thumbnail
    assert note in embed.error
    assert "<img" not in article.body_html
    assert '<span class="embed__placeholder">YouTube</span>' in article.body_html


def test_a_thumbnail_from_another_host_is_never_fetched(db, fake_providers):
    answer = Answer.json({"title": "T", "thumbnail_url": "https://evil.example/x.jpg"})
    fake_providers.answer(*OEMBED, answer)
    story(YOUTUBE_URL)
    assert "refused a thumbnail from evil.example" in Embed.objects.get(url=YOUTUBE_URL).error
    assert ("evil.example", "/x.jpg") not in fake_providers.requests


# The demo, offline.


def test_load_demo_shows_full_facades_with_no_network(db, settings, monkeypatch):
    monkeypatch.setattr(fetching, "get", lambda *a, **k: pytest.fail("the demo fetched something"))
    call_command("load_demo", stdout=io.StringIO())
    teardown = Article.objects.get(slug__contains="teardown")
    html = teardown.body_html
    assert html.count('<figure class="embed embed--') == 3
    assert "embed--link" not in html
    assert 'data-embed-src="https://www.youtube-nocookie.com/embed/Qx3TeardwnA"' in html
    assert "Ask away!" in html and "statistics.mean" in html
    assert Embed.objects.filter(status="ok").count() == 4  # the teardown's three, the live outage's post
    outage = Article.objects.get(slug__contains="helix-cloud-outage")
    assert outage.live_entries.filter(body_html__contains="embed--post").count() == 1
    # The demo: an outage, 25 updates, 3 key points, an embed, ended after the last update.
    assert outage.coverage == "ended" and outage.live_entries.count() == 25
    assert outage.live_entries.filter(is_key_point=True).count() == 3
    assert outage.coverage_ended_at > outage.live_entries.latest("posted_at").posted_at
    video = Embed.objects.get(provider="youtube")
    assert video.width == 960 and video.thumbnail.name.endswith(".webp")


# Hostile strings (tests/corpora/xss, see its README and licences) where an embed URL goes.

URL_SHAPES = (
    "{}",
    "https://www.youtube.com/watch?v={}",
    "https://mastodon.social/@{}/1",
    "https://{}/@user/113502864120394117",
    "https://gist.github.com/{}",
)


def xss_strings():
    from tests.support.hostile_corpora import text_corpora

    return [value for name, values in text_corpora().items() if name.startswith("xss/") for value in values]


def test_every_xss_string_as_a_url_is_recognised_or_not_without_error():
    strings = xss_strings()
    assert len(strings) > 4000
    found = [shape.format(value) for value in strings for shape in URL_SHAPES]
    matched = [url for url in found if providers.match(url)]
    # What matches is a provider URL of the exact shape, which the facade and the fetcher build from
    # the matched parts only.
    for url in matched:
        assert not any(char in url for char in "<>\"'` \\"), url


def test_every_xss_string_as_an_embed_line_saves_a_safe_story(db):
    # Not NUL: forms refuse it before a save (test_hostile_admin_forms), and PostgreSQL cannot store it.
    lines = [shape.format(value) for value in xss_strings() if "\x00" not in value for shape in URL_SHAPES]
    chunk, saved = [], 0
    for line in lines + [None]:
        if line is not None and sum(len(item) + 2 for item in chunk) + len(line) < 20_000:
            chunk.append(line)
            continue
        article = ArticleFactory(body="Intro.\n\n" + "\n\n".join(chunk))
        stored = Article.objects.get(pk=article.pk)
        assert stored.body == article.body
        assert unsafe_parts(stored.body_html, "fragment") == []
        assert "data-embed-src" not in stored.body_html  # nothing fetched: nothing to load
        saved += 1
        chunk = [line]
    assert saved > 10
    # Every one that was recognised is stored as a failed fetch (tests reach no provider): a link card.
    assert Embed.objects.exists() and not Embed.objects.exclude(status="failed").exists()


def test_the_test_mapping_is_an_error_outside_the_tests_and_ignored_there(settings, monkeypatch):
    from articles.embeds.checks import test_resolve_only_in_tests

    settings.EMBEDS_TEST_RESOLVE = {"www.youtube.com": "127.0.0.1:9"}
    assert test_resolve_only_in_tests(None) == []
    settings.TESTING = False
    assert [error.id for error in test_resolve_only_in_tests(None)] == ["articles.E001"]

    def no_dns(*args, **kwargs):
        raise OSError("no DNS here")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)  # the mapping is not used: DNS is asked
    with pytest.raises(fetching.FetchError, match="could not resolve"):
        fetching.get("https://www.youtube.com/oembed", {"www.youtube.com"}, max_bytes=10, accept="*/*")


def test_a_refreshed_embed_reaches_the_cached_page(
    db, client, fake_providers, django_capture_on_commit_callbacks
):
    article = story(YOUTUBE_URL)
    assert "Quantix Q3 teardown" in client.get(article.get_absolute_url()).content.decode()
    fake_providers.answer(*OEMBED, Answer.json({"title": "Retitled by the provider"}))
    with django_capture_on_commit_callbacks(execute=True):
        call_command("refresh_embeds", "--all", stdout=io.StringIO())
    assert "Retitled by the provider" in client.get(article.get_absolute_url()).content.decode()
