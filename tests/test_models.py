"""The article model: visibility, derived fields and validation."""

import datetime
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from articles import images, rendering
from articles.models import Article, Image
from tests.factories import ArticleFactory, jpeg_upload, library_image


def test_published_is_status_and_time(db):
    now = timezone.now()
    live = ArticleFactory(published_at=now - datetime.timedelta(minutes=1))
    ArticleFactory(status=Article.Status.DRAFT, published_at=now - datetime.timedelta(days=1))
    ArticleFactory(published_at=now + datetime.timedelta(minutes=1))
    assert list(Article.objects.published()) == [live]


def test_scheduled_article_becomes_visible_at_its_time(db, time_machine):
    now = timezone.now()
    article = ArticleFactory(published_at=now + datetime.timedelta(hours=1))
    assert not Article.objects.published().exists()
    time_machine.move_to(now + datetime.timedelta(hours=1, seconds=1))
    assert list(Article.objects.published()) == [article]


def test_publishing_without_a_time_means_now(db):
    article = ArticleFactory(status=Article.Status.DRAFT, published_at=None)
    assert article.published_at is None
    article.status = Article.Status.PUBLISHED
    article.save()
    assert timezone.now() - article.published_at < datetime.timedelta(seconds=5)


@pytest.mark.parametrize("field", ["alt", "credit"])
def test_a_library_image_requires_alt_text_and_credit(db, field):
    image = Image(alt="A board", credit="Agency", file=images.prepare_upload(jpeg_upload()).content)
    setattr(image, field, "")
    with pytest.raises(ValidationError) as info:
        image.full_clean()
    assert field in info.value.message_dict


def test_body_is_rendered_on_save_with_the_renderer_version(db):
    article = ArticleFactory(body="Hello <script>alert(1)</script> **world**")
    assert article.renderer_version == rendering.RENDERER_VERSION
    assert "<strong>world</strong>" in article.body_html
    assert "<script" not in article.body_html and "alert(1)" not in article.body_html


def test_unchanged_body_is_not_rendered_again(db, monkeypatch):
    article = Article.objects.get(pk=ArticleFactory().pk)
    calls = []

    def render(text, media):
        calls.append(text)
        return rendering.Rendered("<p>x</p>", image_ids=(), embed_urls=(), missing_image_ids=())

    monkeypatch.setattr(rendering, "render_story_limited", render)
    article.title = "New title"
    article.save()
    assert calls == []
    article.body = "Changed"
    article.save()
    assert calls == ["Changed"]


def test_revised_at_follows_edits_to_the_live_text_only(db):
    article = ArticleFactory()
    assert article.revised_at is None and article.modified_at == article.published_at
    article = Article.objects.get(pk=article.pk)
    article.hero = library_image()  # a new picture is not a revision of what readers read
    article.save()
    assert article.revised_at is None
    article.body += "\n\nA late paragraph."
    article.save()
    assert article.revised_at is not None and article.modified_at == article.revised_at


def test_rerender_articles_rebuilds_every_article_and_shows_progress(db):
    articles = ArticleFactory.create_batch(3)
    Article.objects.update(body_html="stale", renderer_version=0)
    out = StringIO()
    call_command("rerender_articles", stdout=out)
    assert "3/3 rendered" in out.getvalue()
    for article in articles:
        article.refresh_from_db()
        assert article.renderer_version == rendering.RENDERER_VERSION
        assert article.body_html.startswith("<p>First paragraph.</p>")


def test_replacing_the_hero_image_replaces_its_renditions(
    db, article_with_image, settings, django_capture_on_commit_callbacks
):
    from pathlib import Path

    hero = article_with_image.hero
    old = hero.renditions
    with django_capture_on_commit_callbacks(execute=True):  # the old set goes once the new one is committed
        hero.file = images.prepare_upload(jpeg_upload(size=(900, 600))).content
        hero.save()
    replaced = Article.objects.get(pk=article_with_image.pk).hero
    assert [s["width"] for s in replaced.renditions["sizes"]] == [480, 800, 900]
    media = Path(settings.MEDIA_ROOT)
    assert not any((media / size["webp"]).exists() for size in old["sizes"])
    assert all((media / size["jpeg"]).exists() for size in replaced.renditions["sizes"])


def test_rerender_reports_an_article_it_cannot_render_and_fails(db):
    good, bad = ArticleFactory.create_batch(2)
    Article.objects.filter(pk=bad.pk).update(body="[" * 100_000, renderer_version=0)
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="1 article"):
        call_command("rerender_articles", stdout=out, stderr=err)
    assert f"{bad.slug}: The body took too long to format" in err.getvalue()
    assert "Rendered 1 of 2" in out.getvalue()


def test_excerpt_is_derived_on_save_and_used_without_a_standfirst(db):
    article = ArticleFactory(standfirst="", body="The **first** paragraph.\n\n## Then\n\nMore.")
    assert article.excerpt == "The first paragraph. More."
    assert article.description == article.excerpt


def test_control_characters_pasted_into_text_fields_are_removed(db):
    article = ArticleFactory(
        title="Chips\x0b ahead\x00", standfirst="A\x1f summary", hero=library_image(caption="Photo\x07")
    )
    article.refresh_from_db()
    assert (article.title, article.standfirst, article.hero.caption) == ("Chips ahead", "A summary", "Photo")
