"""One sweep: drafts and scheduled stories appear on no public page, feed, sitemap or search; nor do tags
that no published story carries."""

import datetime

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from articles.models import Article, Follow, Subscriber, Tag
from tests.factories import ArticleFactory, AuthorFactory, SectionFactory, TagFactory
from tests.test_roles import ADD_URL, change_data
from tests.test_tag_governance import form_data

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


# Tags: a tag is no public page until a story is published with it, or an editor opens it on purpose.

SPAM = "Free crypto giveaway visit evil example"
SPAM_SLUG = "free-crypto-giveaway-visit-evil-example"
TAG_ADDRESSES = [f"/tags/{SPAM_SLUG}/{suffix}" for suffix in ("", "feed/", "feed/atom/", "follow/")]


def writers_draft_tagged(django_user_model, tags):
    """A Writer (no add_tag) saves a draft in the admin, typing new tags: they are created on save."""
    writer = django_user_model.objects.create_user("wanda", password="correct horse battery", is_staff=True)
    writer.groups.add(Group.objects.get(name="Writer"))
    assert not writer.has_perm("articles.add_tag")
    client = Client()
    client.force_login(writer)
    draft = ArticleFactory.build(slug="innocent-draft", status="draft", published_at=None)
    assert client.post(ADD_URL, change_data(draft, tags=tags)).status_code == 302
    return Article.objects.get(slug="innocent-draft")


def public_answers(client):
    """How each public address of the spam tag answers, and whether a follow POST acted (stored an
    address or sent a mail: the test client skips the CSRF check, so a follow on a public tag acts)."""
    statuses = [client.get(url).status_code for url in TAG_ADDRESSES]
    follow = client.post(f"/tags/{SPAM_SLUG}/follow/", {"email": "reader@example.com", "frequency": "daily"})
    statuses.append(follow.status_code)
    return statuses, Subscriber.objects.exists() or Follow.objects.exists() or bool(mail.outbox)


def test_a_tag_a_writer_typed_into_a_draft_has_no_public_page(client, db, django_user_model):
    draft = writers_draft_tagged(django_user_model, f'"{SPAM}"')
    assert Tag.objects.filter(slug=SPAM_SLUG).exists()  # the writer may create it; nobody sees it

    statuses, acted = public_answers(client)
    assert statuses == [404] * 5 and not acted
    for url in ["/tags/", "/sitemap-tags.xml", "/"]:
        assert SPAM not in client.get(url).content.decode(), url

    # Scheduled is not published yet.
    draft.status, draft.published_at = "published", timezone.now() + datetime.timedelta(hours=1)
    draft.save()
    assert public_answers(client) == ([404] * 5, False)


def test_a_published_story_opens_the_tag_and_unpublishing_it_closes_it_again(
    client, db, django_user_model, django_capture_on_commit_callbacks
):
    draft = writers_draft_tagged(django_user_model, f'"{SPAM}"')
    draft.status = "published"
    draft.save()

    statuses, acted = public_answers(client)
    # The follow form's own address only redirects to the box on the tag page.
    assert statuses == [200, 200, 200, 302, 200] and acted
    assert SPAM in client.get("/tags/").content.decode()

    with django_capture_on_commit_callbacks(execute=True):  # the pages cached meanwhile go stale
        draft.status = "draft"
        draft.save()
    Subscriber.objects.all().delete()  # what the follow above did
    mail.outbox.clear()
    assert public_answers(client) == ([404] * 5, False)


def test_an_editor_may_open_a_tag_page_before_any_story(client, db, django_user_model):
    draft = writers_draft_tagged(django_user_model, f'"{SPAM}"')
    tag = Tag.objects.get(slug=SPAM_SLUG)
    url = reverse("admin:articles_tag_change", args=[tag.pk])

    def staff_member(name, group):
        user = django_user_model.objects.create_user(name, password="correct horse battery", is_staff=True)
        user.groups.add(Group.objects.get(name=group))
        return user

    # The draft's own writer sees the tag but may not open its page; another writer does not even see
    # it (its name tells what the draft is about: tests/test_roles.py); an editor may open it.
    other_writer = Client()
    other_writer.force_login(staff_member("walt", "Writer"))
    assert other_writer.get(url)["Location"] == reverse("admin:index")
    for user, may_open in [(draft.created_by, False), (staff_member("Editor", "Editor"), True)]:
        staff = Client()
        staff.force_login(user)
        page = staff.get(url)
        assert page.status_code == 200
        assert ('name="show_early"' in page.content.decode()) is may_open, user
        if may_open:
            data = form_data(page, "tag_form")
            data["show_early"] = "on"
            assert staff.post(url, data).status_code == 302
        else:  # a forged POST changes nothing
            staff.post(url, {"name": tag.name, "slug": tag.slug, "show_early": "on"})
        tag.refresh_from_db()
        assert tag.show_early is may_open, user

    statuses, _ = public_answers(client)
    assert statuses == [200, 200, 200, 302, 200]
    # Open on purpose, but with no story yet: not in the index of topics with stories, nor the sitemap.
    assert SPAM not in client.get("/tags/").content.decode()
