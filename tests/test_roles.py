"""Who may do what in the newsroom admin: writers draft, editors publish, forged POSTs change nothing."""

import datetime

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from articles.models import Article, Revision, Tag
from tests.factories import ArticleFactory, AuthorFactory, SectionFactory, TagFactory

CHANGELIST = reverse("admin:articles_article_changelist")
ADD_URL = reverse("admin:articles_article_add")


def make_user(django_user_model, role):
    if role == "anonymous":
        return None
    user = django_user_model.objects.create_user(
        role, f"{role}@example.com", "correct horse battery", is_staff=True, is_superuser=role == "superuser"
    )
    if role in ("writer", "editor"):
        user.groups.add(Group.objects.get(name=role.capitalize()))
    return user


def change_data(article, **overrides):
    """Everything the change form posts for this article, publish checklist complete."""
    published_at = article.published_at or timezone.now()
    authors = [a.pk for a in article.authors.all()] if article.pk else []
    tags = ", ".join(article.tags.names()) if article.pk else ""
    data = {
        "title": article.title,
        "slug": article.slug,
        "standfirst": article.standfirst or "A summary.",
        "body": article.body,
        "hero": article.hero_id or "",
        "section": article.section_id or SectionFactory().pk,
        "authors": authors or [AuthorFactory().pk],
        "tags": tags or "Chips",
        "status": article.status,
        "published_at_0": timezone.localtime(published_at).strftime("%Y-%m-%d"),
        "published_at_1": timezone.localtime(published_at).strftime("%H:%M:%S"),
        "is_featured": "",
        "seo_title": "",
        "seo_description": "",
        "corrections-TOTAL_FORMS": "0",
        "corrections-INITIAL_FORMS": "0",
        "corrections-MIN_NUM_FORMS": "0",
        "corrections-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return data


def change_url(article):
    return reverse("admin:articles_article_change", args=[article.pk])


def status_of(article):
    article.refresh_from_db()
    return article.status, article.is_live


# Each attempt returns True when its effect happened.


def create_draft(client, user):
    article = ArticleFactory.build(title="Fresh draft", slug="fresh-draft", status="draft", published_at=None)
    client.post(ADD_URL, change_data(article))
    return Article.objects.filter(slug="fresh-draft").exists()


def edit_own_draft(client, user):
    article = ArticleFactory(status="draft", published_at=None, created_by=user)
    client.post(change_url(article), change_data(article, title="Retitled"))
    article.refresh_from_db()
    return article.title == "Retitled"


def edit_others_draft(client, user, other):
    article = ArticleFactory(status="draft", published_at=None, created_by=other)
    client.post(change_url(article), change_data(article, title="Retitled"))
    article.refresh_from_db()
    return article.title == "Retitled"


def publish(client, user):
    """Both ways to publish: the form's status field and the changelist action (forged for writers)."""
    by_form = ArticleFactory(status="draft", published_at=None, created_by=user, tags=[TagFactory()])
    client.post(change_url(by_form), change_data(by_form, status="published"))
    by_action = ArticleFactory(
        status="draft", published_at=None, created_by=user, tags=[TagFactory()], authors=[AuthorFactory()]
    )
    client.post(CHANGELIST, {"action": "publish", "_selected_action": [by_action.pk]})
    results = {status_of(by_form)[1], status_of(by_action)[1]}
    assert len(results) == 1, "the form and the action disagree"
    return results.pop()


def schedule(client, user):
    article = ArticleFactory(status="draft", published_at=None, created_by=user)
    when = timezone.now() + datetime.timedelta(days=1)
    client.post(
        change_url(article),
        change_data(
            article,
            status="published",
            published_at_0=timezone.localtime(when).strftime("%Y-%m-%d"),
            published_at_1=timezone.localtime(when).strftime("%H:%M:%S"),
        ),
    )
    article.refresh_from_db()
    return article.status == "published" and article.published_at > timezone.now()


def unpublish(client, user):
    article = ArticleFactory(created_by=user)
    client.post(CHANGELIST, {"action": "unpublish", "_selected_action": [article.pk]})
    return status_of(article)[0] == "draft"


def edit_published(client, user):
    article = ArticleFactory(created_by=user, authors=[AuthorFactory()], tags=[TagFactory()])
    client.post(change_url(article), change_data(article, title="Retitled live story"))
    article.refresh_from_db()
    return article.title == "Retitled live story"


def merge_tags(client, user):
    keep, other = TagFactory(name="AI"), TagFactory(name="Artificial intelligence")
    client.post(
        reverse("admin:articles_tag_changelist"),
        {"action": "merge_tags", "_selected_action": [keep.pk, other.pk], "keep": keep.pk, "apply": "yes"},
    )
    return not Tag.objects.filter(pk=other.pk).exists()


ATTEMPTS = {
    "create draft": create_draft,
    "edit own draft": edit_own_draft,
    "edit other's draft": edit_others_draft,
    "publish": publish,
    "schedule": schedule,
    "unpublish": unpublish,
    "edit published": edit_published,
    "merge tags": merge_tags,
}
ALLOWED = {
    "anonymous": set(),
    "writer": {"create draft", "edit own draft"},
    "editor": set(ATTEMPTS),
    "superuser": set(ATTEMPTS),
}


@pytest.mark.parametrize("role", list(ALLOWED))
@pytest.mark.parametrize("attempt", list(ATTEMPTS))
def test_permission_matrix(db, django_user_model, role, attempt):
    user = make_user(django_user_model, role)
    other = django_user_model.objects.create_user("colleague", is_staff=True)
    client = Client()
    if user:
        client.force_login(user)
    run = ATTEMPTS[attempt]
    happened = run(client, user, other) if attempt == "edit other's draft" else run(client, user)
    assert happened is (attempt in ALLOWED[role])


def test_writers_do_not_see_publishing_controls(db, django_user_model):
    writer = make_user(django_user_model, "writer")
    client = Client()
    client.force_login(writer)
    form_page = client.get(ADD_URL).content.decode()
    assert 'name="body"' in form_page
    for control in ('name="status"', 'name="published_at_0"', 'name="is_featured"'):
        assert control not in form_page
    ArticleFactory(created_by=writer, status="draft", published_at=None)
    changelist = client.get(CHANGELIST).content.decode()
    assert 'value="publish"' not in changelist and 'value="unpublish"' not in changelist


def test_a_writers_published_article_opens_read_only(db, django_user_model):
    writer = make_user(django_user_model, "writer")
    client = Client()
    client.force_login(writer)
    article = ArticleFactory(created_by=writer)
    page = client.get(change_url(article))
    assert page.status_code == 200
    assert 'name="body"' not in page.content.decode()
    assert client.post(change_url(article), change_data(article, title="Forged")).status_code == 403


def test_saves_stamp_who_created_and_who_last_edited(db, django_user_model):
    writer = make_user(django_user_model, "writer")
    editor = make_user(django_user_model, "editor")
    writer_client, editor_client = Client(), Client()
    writer_client.force_login(writer)
    editor_client.force_login(editor)
    article = ArticleFactory.build(slug="stamped", status="draft", published_at=None)
    assert writer_client.post(ADD_URL, change_data(article)).status_code == 302
    article = Article.objects.get(slug="stamped")
    assert (article.created_by, article.updated_by) == (writer, writer)
    response = editor_client.post(change_url(article), change_data(article, status="published"))
    assert response.status_code == 302
    article.refresh_from_db()
    assert (article.created_by, article.updated_by) == (writer, editor)
    assert article.is_live
    assert [r.created_by for r in Revision.objects.filter(article=article)] == [editor, writer]


# Whose drafts a member of the newsroom may see: a writer their own, an editor everyone's.

SECRET = "Zyxwv merger draft"


def lists_it(client, draft):
    return SECRET in client.get(CHANGELIST).content.decode()


def opens_it(client, draft):
    page = client.get(change_url(draft))
    return page.status_code == 200 and SECRET in page.content.decode()


def opens_its_history(client, draft):
    page = client.get(reverse("admin:articles_article_history", args=[draft.pk]))
    return page.status_code == 200 and SECRET in page.content.decode()


def opens_its_revisions(client, draft):
    revision = Revision.record(draft)
    pages = [
        client.get(reverse("admin:articles_article_revisions", args=[draft.pk])),
        client.get(reverse("admin:articles_article_revision", args=[draft.pk, revision.pk])),
    ]
    seen = {page.status_code == 200 and SECRET in page.content.decode() for page in pages}
    assert len(seen) == 1, "the revisions list and a revision disagree"
    return seen.pop()


def gets_a_preview_link(client, draft):
    return "?preview=" in client.get(change_url(draft)).content.decode()


def saves_and_previews_it(client, draft):
    response = client.post(change_url(draft), change_data(draft, _preview="1"))
    return response.status_code == 302 and response["Location"] == draft.get_absolute_url()


def reads_it_on_the_site(client, draft):
    page = client.get(draft.get_absolute_url())
    return page.status_code == 200 and SECRET in page.content.decode()


SECRET_TOPIC = "Embargoed Phone X"


def lists_its_topic(client, draft):
    """The tag typed into the draft names its subject: in the tag list, a tag's page, or the article
    list's tag filter."""
    tag = TagFactory(name=SECRET_TOPIC)
    draft.tags.add(tag)
    pages = [
        client.get(reverse("admin:articles_tag_changelist")),
        client.get(reverse("admin:articles_tag_change", args=[tag.pk])),
        client.get(CHANGELIST),
    ]
    seen = {page.status_code == 200 and SECRET_TOPIC in page.content.decode() for page in pages}
    assert len(seen) == 1, "the tag list, the tag's page and the filter disagree"
    return seen.pop()


DRAFT_DOORS = {
    "changelist": lists_it,
    "its topic": lists_its_topic,
    "change page": opens_it,
    "history": opens_its_history,
    "revisions": opens_its_revisions,
    "preview link": gets_a_preview_link,
    "save and preview": saves_and_previews_it,
    "public address": reads_it_on_the_site,
}
SEES_THE_DRAFT = {"its writer": True, "another writer": False, "editor": True, "anonymous": False}


@pytest.mark.parametrize("door", list(DRAFT_DOORS))
@pytest.mark.parametrize("who", list(SEES_THE_DRAFT))
def test_a_draft_is_seen_by_its_writer_and_the_editors_only(db, django_user_model, who, door):
    author = make_user(django_user_model, "writer")
    users = {
        "its writer": author,
        "another writer": _second_writer(django_user_model),
        "editor": make_user(django_user_model, "editor"),
        "anonymous": None,
    }
    draft = ArticleFactory(title=SECRET, status="draft", published_at=None, created_by=author)
    client = Client()
    if users[who]:
        client.force_login(users[who])
    assert DRAFT_DOORS[door](client, draft) is SEES_THE_DRAFT[who]


def _second_writer(django_user_model):
    user = django_user_model.objects.create_user("writer-b", password="correct horse battery", is_staff=True)
    user.groups.add(Group.objects.get(name="Writer"))
    return user


def test_writers_read_what_is_published_or_scheduled_but_get_no_preview_link(db, django_user_model):
    """Editors' stories, live or scheduled, open read-only to every writer, with no link to hand out."""
    writer = make_user(django_user_model, "writer")
    client = Client()
    client.force_login(writer)
    live = ArticleFactory(title="Live story")
    scheduled = ArticleFactory(
        title="Embargoed story", published_at=timezone.now() + datetime.timedelta(days=1)
    )
    listed = client.get(CHANGELIST).content.decode()
    for article in (live, scheduled):
        assert article.title in listed
        page = client.get(change_url(article))
        assert page.status_code == 200 and 'name="title"' not in page.content.decode()
        assert "?preview=" not in page.content.decode()
        assert client.get(article.get_absolute_url()).status_code == 200
    # The control: the editor who scheduled it gets the link.
    client.force_login(make_user(django_user_model, "editor"))
    assert "?preview=" in client.get(change_url(scheduled)).content.decode()
