"""The editor's safety nets: the publish checklist, previews, revisions and corrections."""

import datetime

import html5lib
import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from articles import preview
from articles.models import Article, Correction, Revision
from tests.factories import ArticleFactory, AuthorFactory, SectionFactory, TagFactory, library_image
from tests.test_roles import change_data, change_url

ADD_URL = reverse("admin:articles_article_add")


def complete_form(**overrides):
    article = ArticleFactory.build(title="Chip plant opens", slug="chip-plant-opens")
    return change_data(article, **{"status": "published", **overrides})


# The publish checklist


@pytest.mark.parametrize(
    ("missing", "field", "message"),
    [
        ({"standfirst": ""}, "standfirst", "Add a standfirst"),
        ({"section": ""}, "section", "Choose a section"),
        ({"tags": ""}, "tags", "Add at least one tag"),
        ({"authors": []}, "authors", "Add an author"),
        ({"hero": {"credit": ""}}, "hero", "Give the hero image its alt text and credit"),
        ({"hero": {"alt": ""}}, "hero", "Give the hero image its alt text and credit"),
    ],
)
def test_publishing_is_refused_until_each_checklist_item_is_done(editor_client, missing, field, message):
    if "hero" in missing:  # a picture moved into the library from before it may lack either
        missing["hero"] = library_image(**missing["hero"]).pk
    response = editor_client.post(ADD_URL, complete_form(**missing))
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert set(form.errors) == {field, "__all__"}
    assert message in " ".join(form.errors[field])
    assert "Not published yet" in " ".join(form.non_field_errors())
    assert not Article.objects.exists()


def test_a_complete_article_publishes_and_an_incomplete_draft_saves(editor_client):
    response = editor_client.post(ADD_URL, complete_form(hero=library_image(alt="Plant", credit="AP").pk))
    assert response.status_code == 302
    assert Article.objects.get(slug="chip-plant-opens").is_live

    bare = complete_form(slug="bare-draft", status="draft", standfirst="", section="", tags="", authors=[])
    assert editor_client.post(ADD_URL, bare).status_code == 302
    assert Article.objects.get(slug="bare-draft").status == "draft"


def test_scheduling_runs_the_same_checklist(editor_client):
    when = timezone.localtime(timezone.now() + datetime.timedelta(days=1))
    form = complete_form(tags="", published_at_0=f"{when:%Y-%m-%d}", published_at_1=f"{when:%H:%M:%S}")
    response = editor_client.post(ADD_URL, form)
    assert "Add at least one tag" in " ".join(response.context["adminform"].form.errors["tags"])
    assert not Article.objects.exists()


def test_the_publish_action_skips_incomplete_articles_and_says_why(editor_client):
    ready = ArticleFactory(status="draft", published_at=None, tags=[TagFactory()], authors=[AuthorFactory()])
    lacking = ArticleFactory(title="No byline", status="draft", published_at=None, tags=[TagFactory()])
    response = editor_client.post(
        reverse("admin:articles_article_changelist"),
        {"action": "publish", "_selected_action": [ready.pk, lacking.pk]},
        follow=True,
    )
    messages = [str(m) for m in response.context["messages"]]
    assert "1 article(s) published." in messages
    assert any("No byline" in m and "Add an author" in m for m in messages)
    ready.refresh_from_db(), lacking.refresh_from_db()
    assert ready.is_live and lacking.status == "draft"


# Preview


@pytest.fixture
def draft(db):
    return ArticleFactory(title="Secret launch", slug="secret-launch", status="draft", published_at=None)


def test_save_and_preview_opens_the_draft_with_a_banner(editor_client, draft):
    response = editor_client.post(change_url(draft), change_data(draft, _preview="1"))
    assert response.status_code == 302 and response["Location"] == "/news/secret-launch/"
    page = editor_client.get("/news/secret-launch/")
    assert "Draft preview." in page.content.decode()
    assert "no-cache" in page["Cache-Control"]


def test_a_signed_preview_link_works_without_an_account_and_expires(editor_client, draft):
    form_page = editor_client.get(change_url(draft)).content.decode()
    link = preview.preview_url(draft)
    assert "?preview=" in form_page
    path = link.removeprefix("https://news.example.com")

    visitor = Client()
    assert visitor.get("/news/secret-launch/").status_code == 404
    page = visitor.get(path)
    assert page.status_code == 200
    content = page.content.decode()
    assert "Secret launch" in content and "Draft preview." in content
    assert '<meta name="robots" content="noindex, nofollow">' in content
    assert "no-store" in page["Cache-Control"]

    with time_machine.travel(timezone.now() + preview.PREVIEW_LINK_LIFETIME + datetime.timedelta(minutes=1)):
        expired = visitor.get(path)
    assert expired.status_code == 410
    assert "This preview link has expired" in expired.content.decode()


def test_a_forged_or_borrowed_preview_token_shows_nothing(db, draft):
    other = ArticleFactory(slug="other-draft", status="draft", published_at=None)
    token = preview.make_token(other)
    visitor = Client()
    assert visitor.get(f"/news/secret-launch/?preview={token}").status_code == 404
    assert visitor.get(f"/news/secret-launch/?preview={token[:-3]}abc").status_code == 404
    assert visitor.get("/news/secret-launch/?preview=").status_code == 404


def test_markdown_preview_uses_the_site_pipeline(editor_client):
    url = reverse("admin:articles_article_markdown_preview")
    response = editor_client.post(
        url, {"body": "## Heading\n\n<script>alert(1)</script> [x](javascript:alert(1))"}
    )
    html = response.json()["html"]
    assert '<h2 id="heading">Heading</h2>' in html
    assert "<script" not in html and "javascript:" not in html
    assert editor_client.post(url, {"body": "[" * 100_000}).status_code == 400
    assert editor_client.get(url).status_code == 405
    assert Client().post(url, {"body": "x"}).status_code == 302  # to the login page


def test_the_change_form_has_the_preview_pane_and_script(editor_client, draft):
    content = editor_client.get(change_url(draft)).content.decode()
    assert 'class="markdown-preview"' in content
    assert "js/admin-markdown-preview.js" in content
    assert 'name="_preview"' in content


# Revisions


def test_every_admin_save_keeps_a_revision_and_restore_brings_it_back(editor_client):
    section, author = SectionFactory(), AuthorFactory()
    original = ArticleFactory(
        title="First headline",
        body="Original *body*.",
        section=section,
        authors=[author],
        tags=[TagFactory(name="Chips")],
    )
    editor_client.post(change_url(original), change_data(original))
    first = Revision.objects.get(article=original)
    first_html = Article.objects.get(pk=original.pk).body_html

    edited = change_data(original, title="Second headline", body="Rewritten body.", tags="Phones, Batteries")
    assert editor_client.post(change_url(original), edited).status_code == 302
    assert Revision.objects.filter(article=original).count() == 2

    history = editor_client.get(
        reverse("admin:articles_article_revisions", args=[original.pk])
    ).content.decode()
    assert "First headline" in history and "Second headline" in history
    assert 'class="diff-del">Original *body*.</del>' in history
    assert 'class="diff-ins">Rewritten body.</ins>' in history

    url = reverse("admin:articles_article_revision", args=[original.pk, first.pk])
    assert editor_client.post(url).status_code == 302
    restored = Article.objects.get(pk=original.pk)
    assert restored.title == "First headline"
    assert restored.body == "Original *body*."
    assert sorted(restored.tags.names()) == ["Chips"]
    assert restored.body_html == first_html
    assert Revision.objects.filter(article=original).count() == 3
    page = Client().get(restored.get_absolute_url()).content.decode()
    assert "<em>body</em>" in page


def test_a_writer_cannot_restore_a_published_article(db, django_user_model):
    from tests.test_roles import make_user

    writer = make_user(django_user_model, "writer")
    article = ArticleFactory(created_by=writer)
    revision = Revision.record(article)
    client = Client()
    client.force_login(writer)
    url = reverse("admin:articles_article_revision", args=[article.pk, revision.pk])
    assert client.get(url).status_code == 200
    assert client.post(url).status_code == 403


# Corrections and updates


def test_corrections_show_newest_first_and_move_the_modified_date(editor_client):
    published = timezone.now() - datetime.timedelta(days=2)
    article = ArticleFactory(published_at=published)
    assert article.modified_at == published
    older = Correction.objects.create(
        article=article,
        kind="correction",
        note="An earlier version misnamed the CEO.",
        noted_at=timezone.now() - datetime.timedelta(days=1),
    )
    newer = Correction.objects.create(article=article, kind="update", note="Shares rose 4% after the news.")
    article.refresh_from_db()
    assert article.modified_at == newer.noted_at

    content = Client().get(article.get_absolute_url()).content.decode()
    doc = html5lib.parse(content, namespaceHTMLElements=False)
    notes = [
        " ".join("".join(li.itertext()).split())
        for li in doc.iterfind(".//section[@class='corrections']//li")
    ]
    assert notes[0].startswith("Update,") and "Shares rose" in notes[0]
    assert notes[1].startswith("Correction,") and "misnamed the CEO" in notes[1]
    assert f'"dateModified": "{newer.noted_at.isoformat()}"' in content
    assert f'datetime="{timezone.localtime(newer.noted_at).isoformat()}"' in content or "Updated" in content

    feed = Client().get("/feed/atom/").content.decode()
    assert f"<updated>{newer.noted_at.isoformat()}</updated>" in feed
    assert older.noted_at < newer.noted_at


def test_editors_add_corrections_in_the_change_form(editor_client):
    article = ArticleFactory(authors=[AuthorFactory()], tags=[TagFactory()])
    form = change_data(
        article,
        **{
            "corrections-TOTAL_FORMS": "1",
            "corrections-0-kind": "correction",
            "corrections-0-note": "The plant is in Ohio, not Texas.",
            "corrections-0-noted_at_0": timezone.localtime().strftime("%Y-%m-%d"),
            "corrections-0-noted_at_1": timezone.localtime().strftime("%H:%M:%S"),
        },
    )
    assert editor_client.post(change_url(article), form).status_code == 302
    correction = Correction.objects.get(article=article)
    assert correction.created_by.username == "editor"
    assert "Ohio, not Texas" in Client().get(article.get_absolute_url()).content.decode()


def test_restoring_tags_that_were_merged_away_uses_the_kept_tag(db):
    from articles.models import Tag, TagRedirect

    # A slug that is not the slugified name: the snapshot must remember it.
    article = ArticleFactory(tags=[TagFactory(name="GPUs", slug="gpu-news")])
    revision = Revision.record(article)
    kept = TagFactory(name="Graphics chips", slug="graphics-chips")
    Tag.objects.filter(slug="gpu-news").delete()
    TagRedirect.objects.create(old_slug="gpu-news", tag=kept)
    article.tags.set([TagFactory(name="Other")])

    revision.restore()
    assert list(article.tags.names()) == ["Graphics chips"]
    assert not Tag.objects.filter(name="GPUs").exists()


def test_restoring_keeps_a_renamed_tag_instead_of_recreating_the_old_name(db):
    from articles.models import Tag

    tag = TagFactory(name="GPUs", slug="gpus")
    article = ArticleFactory(tags=[tag])
    revision = Revision.record(article)
    Tag.objects.filter(pk=tag.pk).update(name="Graphics processors")
    article.tags.clear()

    revision.restore()
    assert [t.pk for t in article.tags.all()] == [tag.pk]
    assert Tag.objects.count() == 1


def test_a_note_on_a_story_not_yet_out_does_not_make_it_updated(db):
    scheduled = ArticleFactory(published_at=timezone.now() + datetime.timedelta(hours=2))
    Correction.objects.create(article=scheduled, kind="update", note="Embargo moved.")
    scheduled.refresh_from_db()
    assert scheduled.revised_at is None
    assert scheduled.modified_at == scheduled.published_at


def revisions_page(client, article):
    response = client.get(reverse("admin:articles_article_revisions", args=[article.pk]))
    assert response.status_code == 200
    return html5lib.parse(response.content.decode(), namespaceHTMLElements=False)


def page_text(doc):
    return " ".join("".join(doc.find(".//div[@id='content-main']").itertext()).split())


def compare_links(doc):
    return [a.get("href") for a in doc.iterfind(".//table[@class='revisions']//a")]


def test_an_article_saved_outside_the_admin_has_a_revisions_page(editor_client):
    """Bulk-seeded, imported by a script or made by a factory: no revision yet, and no 500 for it."""
    article = ArticleFactory(title="Seeded story")
    assert not article.revisions.exists()
    doc = revisions_page(editor_client, article)
    assert "No revisions yet" in page_text(doc)
    missing = reverse("admin:articles_article_revision", args=[article.pk, 999_999])
    assert editor_client.get(missing).status_code == 404
    assert editor_client.post(missing).status_code == 404


def test_one_revision_is_the_current_one_with_nothing_to_restore(editor_client):
    article = ArticleFactory(title="Saved once")
    revision = Revision.record(article)
    doc = revisions_page(editor_client, article)
    assert "(current)" in page_text(doc) and "Oldest revision kept" in page_text(doc)
    assert compare_links(doc) == []
    page = editor_client.get(reverse("admin:articles_article_revision", args=[article.pk, revision.pk]))
    assert "This revision is the same as the current article." in page.content.decode()
    assert "Restore this revision" not in page.content.decode()


def test_a_revision_of_an_article_changed_since_outside_the_admin_can_be_compared_and_restored(editor_client):
    chips, phones = SectionFactory(name="Chips"), SectionFactory(name="Phones")
    article = ArticleFactory(title="Headline as saved", section=chips, authors=[AuthorFactory(name="Ada")])
    first = Revision.record(article)
    second = Revision.record(article)  # saved again, unchanged
    # Then a script changes it and keeps no revision.
    article.title, article.section = "Headline changed by a script", phones
    article.seo_title = "Script SEO"
    article.save()
    article.authors.set([AuthorFactory(name="Bo")])

    doc = revisions_page(editor_client, article)
    assert "changed since its newest revision" in page_text(doc)
    assert "Now (current, not kept as a revision) — Title Headline as saved Headline changed by a script" in (
        page_text(doc)
    )
    assert compare_links(doc) == [
        reverse("admin:articles_article_revision", args=[article.pk, revision.pk])
        for revision in (second, first)
    ]

    url = reverse("admin:articles_article_revision", args=[article.pk, second.pk])
    page = html5lib.parse(editor_client.get(url).content.decode(), namespaceHTMLElements=False)
    text = page_text(page)
    for label, before, after in [
        ("Title", "Headline changed by a script", "Headline as saved"),
        ("Section", "Phones", "Chips"),
        ("Authors", "Bo", "Ada"),
        ("SEO title", "Script SEO", "(none)"),
    ]:
        assert f"{label} {before} {after}" in text, label
    assert 'value="Restore this revision"' in editor_client.get(url).content.decode()

    assert editor_client.post(url).status_code == 302
    article.refresh_from_db()
    assert (article.title, article.section, article.seo_title) == ("Headline as saved", chips, "")
    assert [author.name for author in article.authors.all()] == ["Ada"]
    assert "(current)" in page_text(revisions_page(editor_client, article))


def test_the_restore_page_leaves_the_publishing_state_out_of_what_would_change(editor_client):
    article = ArticleFactory(status="draft", published_at=None)
    revision = Revision.record(article)
    article.status = "published"
    article.save()  # published by a script: nothing a restore would bring back
    page = editor_client.get(reverse("admin:articles_article_revision", args=[article.pk, revision.pk]))
    assert "This revision is the same as the current article." in page.content.decode()
    # The history does show it, as what changed since the newest revision.
    assert "Now (current, not kept as a revision) — Status draft published" in page_text(
        revisions_page(editor_client, article)
    )


def test_restore_brings_back_the_figures_and_the_hero_of_the_revision(editor_client):
    hero, chart = library_image(alt="The fab"), library_image(alt="Output per quarter")
    original = ArticleFactory(
        hero=hero, body=f'Intro.\n\n![Output per quarter](image:{chart.pk} "Q3"){{.wide}}'
    )
    editor_client.post(change_url(original), change_data(original))
    first = Revision.objects.get(article=original)
    edited = change_data(original, body="Intro only.", hero=library_image(alt="A new picture").pk)
    assert editor_client.post(change_url(original), edited).status_code == 302
    assert not Article.objects.get(pk=original.pk).figures.exists()

    url = reverse("admin:articles_article_revision", args=[original.pk, first.pk])
    assert editor_client.post(url).status_code == 302
    restored = Article.objects.get(pk=original.pk)
    assert restored.hero == hero
    assert list(restored.figures.all()) == [chart]
    doc = html5lib.parse(restored.body_html, namespaceHTMLElements=False)
    figure = doc.find(".//figure[@class='figure figure--wide']")
    assert figure.find(".//img").get("alt") == "Output per quarter"
    assert "Q3" in "".join(figure.find("figcaption").itertext())


def test_a_revision_showing_a_picture_deleted_since_is_not_restored_and_says_why(editor_client):
    chart = library_image(alt="Output per quarter")
    original = ArticleFactory(status="draft", published_at=None, body=f"![Output](image:{chart.pk})")
    editor_client.post(change_url(original), change_data(original))
    first = Revision.objects.get(article=original)
    edited = change_data(original, body="Text now.")
    assert editor_client.post(change_url(original), edited).status_code == 302
    number = chart.pk
    chart.delete()  # nothing published shows it any more

    url = reverse("admin:articles_article_revision", args=[original.pk, first.pk])
    response = editor_client.post(url, follow=True)
    assert response.status_code == 200
    assert f"This revision cannot be restored. The body shows image:{number}" in response.content.decode()
    assert Article.objects.get(pk=original.pk).body == "Text now."
    assert Revision.objects.filter(article=original).count() == 2
