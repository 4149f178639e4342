"""The live desk in the admin (articles/admin/live.py): one box and a button to post an update; editors
start and end coverage and post to any live story, writers post to the live stories whose byline they are
on; bad input gets a message and changes nothing."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from articles import live
from articles.models import Article, Author, LiveEntry
from tests.factories import ArticleFactory, AuthorFactory

pytestmark = pytest.mark.django_db


def member(django_user_model, name, group):
    user = django_user_model.objects.create_user(name, f"{name}@example.com", "pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def story():
    return ArticleFactory(
        title="Outage, live",
        slug="outage-live",
        coverage=Article.Coverage.LIVE,
        authors=[AuthorFactory(name="Ada Brooks", slug="ada-brooks")],
    )


@pytest.fixture
def desk(story):
    return reverse("admin:articles_article_live", args=[story.pk])


@pytest.fixture
def editor_user(django_user_model):
    return member(django_user_model, "ed", "Editor")


@pytest.fixture
def writer_on_byline(django_user_model, story):
    writer = member(django_user_model, "ada", "Writer")
    Author.objects.filter(slug="ada-brooks").update(user=writer)
    return writer


def test_an_editor_posts_an_update_with_one_field_and_a_button(client, editor_user, story, desk):
    client.force_login(editor_user)
    page = client.get(desk).content.decode()
    assert 'name="body"' in page and 'value="post"' in page and "Post update" in page
    response = client.post(desk, {"action": "post", "body": "Sign-in is failing in eu-central."})
    assert response.status_code == 302 and response["Location"] == desk
    (entry,) = story.live_entries.all()
    assert entry.text == "Sign-in is failing in eu-central." and not entry.is_key_point
    assert entry.created_by == editor_user
    page = client.get(desk).content.decode()
    assert "Posted at" in page and "Sign-in is failing in eu-central." in page


def test_a_key_point_is_posted_with_its_box_ticked_and_pinned_or_unpinned_later(
    client, editor_user, story, desk
):
    client.force_login(editor_user)
    client.post(desk, {"action": "post", "body": "Service restored.", "is_key_point": "on"})
    entry = story.live_entries.get()
    assert entry.is_key_point
    client.post(desk, {"action": "pin", "entry": entry.pk})
    entry.refresh_from_db()
    assert not entry.is_key_point
    client.post(desk, {"action": "pin", "entry": entry.pk})
    entry.refresh_from_db()
    assert entry.is_key_point


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "This field is required."),
        ("   \n\n  ", "This field is required."),
        ("x" * 5001, "at most 5000 characters"),
        ("![Chart](image:424242)", "image:424242"),
    ],
)
def test_bad_input_gets_a_message_and_posts_nothing(client, editor_user, story, desk, body, message):
    client.force_login(editor_user)
    response = client.post(desk, {"action": "post", "body": body}, follow=True)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not LiveEntry.objects.exists()


def test_hostile_markdown_is_posted_clean(client, editor_user, story, desk):
    client.force_login(editor_user)
    client.post(desk, {"action": "post", "body": "<script>alert(1)</script><b onclick=x>Bold</b>"})
    html = story.live_entries.get().body_html
    assert "<script" not in html and "onclick" not in html


def test_a_writer_on_the_byline_posts_but_neither_starts_nor_ends_coverage(
    client, writer_on_byline, story, desk
):
    client.force_login(writer_on_byline)
    assert client.post(desk, {"action": "post", "body": "From the hall."}).status_code == 302
    assert story.live_entries.get().author.slug == "ada-brooks"
    assert client.post(desk, {"action": "end"}).status_code == 403
    story.refresh_from_db()
    assert story.coverage == Article.Coverage.LIVE
    assert 'value="end"' not in client.get(desk).content.decode()


def test_a_writer_not_on_the_byline_may_not_post_nor_change_another_s_update(
    client, django_user_model, writer_on_byline, story, desk
):
    entry = live.post(story, writer_on_byline, "Mine.")
    stranger = member(django_user_model, "bo", "Writer")
    client.force_login(stranger)
    assert client.post(desk, {"action": "post", "body": "Not my story."}).status_code == 403
    assert client.post(desk, {"action": "pin", "entry": entry.pk}).status_code == 403
    change = reverse("admin:articles_liveentry_change", args=[entry.pk])
    assert client.get(change).status_code in (302, 403, 404)
    assert story.live_entries.count() == 1


def test_a_writer_changes_their_own_update_in_the_list(client, writer_on_byline, story):
    entry = live.post(story, writer_on_byline, "Teh typo.")
    client.force_login(writer_on_byline)
    change = reverse("admin:articles_liveentry_change", args=[entry.pk])
    response = client.post(
        change, {"body": "The typo, fixed.", "posted_at_0": "2026-01-02", "posted_at_1": "10:00:00"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    entry.refresh_from_db()
    assert entry.text == "The typo, fixed."


def test_an_editor_ends_and_reopens_the_coverage(client, editor_user, story, desk):
    client.force_login(editor_user)
    client.post(desk, {"action": "end"})
    story.refresh_from_db()
    assert story.coverage == Article.Coverage.ENDED and story.coverage_ended_at
    page = client.get(desk).content.decode()
    assert "Reopen the coverage" in page and 'name="body"' not in page  # ended: nothing to post to
    assert client.post(desk, {"action": "post", "body": "Too late."}).status_code == 403
    client.post(desk, {"action": "start"})
    story.refresh_from_db()
    assert story.coverage == Article.Coverage.LIVE and story.coverage_ended_at is None


def test_the_story_form_offers_the_desk_and_only_editors_mark_a_story_live(
    client, editor_user, writer_on_byline, story
):
    change = reverse("admin:articles_article_change", args=[story.pk])
    client.force_login(editor_user)
    page = client.get(change).content.decode()
    assert reverse("admin:articles_article_live", args=[story.pk]) in page
    assert 'name="coverage"' in page
    draft = ArticleFactory(status="draft", created_by=writer_on_byline)
    client.force_login(writer_on_byline)
    page = client.get(reverse("admin:articles_article_change", args=[draft.pk])).content.decode()
    assert 'name="coverage"' not in page  # read-only for writers


def test_unknown_story_or_action_changes_nothing(client, editor_user, story, desk):
    client.force_login(editor_user)
    assert client.get(reverse("admin:articles_article_live", args=[999999])).status_code in (302, 404)
    assert client.post(desk, {"action": "explode"}).status_code == 302
    assert client.post(desk, {"action": "pin", "entry": "not-a-number"}).status_code == 404
    assert not LiveEntry.objects.exists()
