"""Markdown import and the demo loader."""

import datetime
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from articles.models import Article, Author, Image, Revision, Section, Tag
from tests.conftest import SEED_SLUG

DEMO = Path(__file__).resolve().parent.parent / "articles" / "demo"
SEED = DEMO / "openai-foxconn.md"


def run(*paths):
    out, err = StringIO(), StringIO()
    call_command("import_markdown", *map(str, paths), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_import_creates_then_leaves_unchanged(db):
    out, _ = run(SEED)
    assert out.strip().endswith(": created")
    article = Article.objects.get(slug=SEED_SLUG)
    assert article.is_live
    assert article.section.name == "Industry"
    assert [a.name for a in article.authors.all()] == ["Conclave News Desk"]
    assert sorted(t.name for t in article.tags.all()) == sorted(
        ["OpenAI", "Foxconn", "AI infrastructure", "Data centres", "Supply chain", "Manufacturing"]
    )
    updated_at = article.updated_at

    out, _ = run(SEED)
    assert out.strip().endswith(": unchanged")
    article.refresh_from_db()
    assert article.updated_at == updated_at
    assert (
        Article.objects.count(),
        Tag.objects.count(),
        Author.objects.count(),
        Section.objects.count(),
    ) == (
        1,
        6,
        1,
        1,
    )


def test_import_updates_by_slug(db, tmp_path):
    run(SEED)
    edited = tmp_path / "edited.md"
    edited.write_text(SEED.read_text().replace("tags: [OpenAI,", "tags: [Robots, OpenAI,"))
    out, _ = run(edited)
    assert out.strip().endswith(": updated")
    assert Article.objects.count() == 1
    assert "Robots" in [t.name for t in Article.objects.get().tags.all()]
    # One revision per import that changed something, holding the tags it set.
    revisions = Revision.objects.filter(article=Article.objects.get())
    assert revisions.count() == 2
    assert "Robots" in revisions.first().snapshot["tags"]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("no front matter\n", 1, "must start with a '---' line"),
        ("---\ntitle: x\n", 1, "never closed"),
        ("---\ntitle: ok\ntags: [a, b\n---\nbody\n", 3, "not valid YAML"),
        ("---\ntitle: ok\ncolour: red\n---\nbody\n", 3, "unknown front matter key 'colour'"),
        ("---\nslug: x\n---\nbody\n", 1, "'title' is required"),
        ("---\ntitle: ok\npublished_at: yesterday\n---\nbody\n", 3, "not a date"),
        (
            "---\ntitle: ok\nhero_image: missing.jpg\nhero_alt: A\nhero_credit: B\n---\nbody\n",
            3,
            "does not exist",
        ),
        ("---\ntitle: ok\nhero_image: board.jpg\nhero_credit: B\n---\nbody\n", 3, "'hero_alt' is required"),
        ("---\ntitle: ok\n---\n\n", 3, "no body"),
        ("---\ntitle: ok\n---\n" + "[" * 100_000 + "\n", 4, "too long to format"),
    ],
)
def test_a_malformed_file_is_named_with_its_line_and_the_others_still_import(
    db, tmp_path, text, line, message
):
    broken = tmp_path / "broken.md"
    broken.write_text(text)
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="1 of 2 file"):
        call_command("import_markdown", str(broken), str(SEED), stdout=out, stderr=err)
    assert f"{broken}:{line}: error: line {line}: " in err.getvalue()
    assert message in err.getvalue()
    assert out.getvalue().strip() == f"{SEED}: created"
    assert Article.objects.filter(slug=SEED_SLUG).exists()
    assert Article.objects.count() == 1


def test_non_utf8_file_is_reported(db, tmp_path):
    broken = tmp_path / "latin1.md"
    broken.write_bytes("---\ntitle: café\n---\nbody\n".encode("latin-1"))
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_markdown", str(broken), stdout=StringIO(), stderr=err)
    assert "not UTF-8" in err.getvalue()


def test_a_nul_character_is_reported_with_its_line_and_nothing_is_stored(db, tmp_path):
    broken = tmp_path / "nul.md"
    broken.write_text("---\ntitle: Nul\nslug: nul\nsection: Chips\nauthors: [Ada]\n---\n\nA \x00 here.\n")
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_markdown", str(broken), stdout=StringIO(), stderr=err)
    assert f"{broken}:8: error: line 8: the file contains a NUL character" in err.getvalue()
    assert not Article.objects.exists()


def test_load_demo_is_idempotent(db, settings):
    media = Path(settings.MEDIA_ROOT)
    call_command("load_demo", stdout=StringIO())
    articles = {a.slug: (a.updated_at, a.hero.file.name) for a in Article.objects.all()}
    pictures = Image.objects.count()
    files = sorted(media.rglob("*"))
    assert len(articles) >= 7
    assert all(name for _, name in articles.values())
    assert Tag.objects.filter(name="Data centres").get().tagged_articles.count() >= 3

    out = StringIO()
    call_command("load_demo", stdout=out)
    assert "created" not in out.getvalue() and "updated" not in out.getvalue()
    assert {a.slug: (a.updated_at, a.hero.file.name) for a in Article.objects.all()} == articles
    assert Image.objects.count() == pictures
    assert sorted(media.rglob("*")) == files


def test_demo_stories_are_dated_up_to_a_day_before_today(db):
    """A new user's site is alive on any day: the newest demo story within the last day (so in the
    news sitemap), the others spread behind it as in the files, and the same day's reload changes
    nothing."""
    for today in ("2031-03-04T10:30:00Z", "2031-03-04T23:59:00Z"):
        with time_machine.travel(today, tick=False):
            Article.objects.all().delete()
            call_command("load_demo", stdout=StringIO())
            now = timezone.now()
            dates = sorted(Article.objects.values_list("published_at", flat=True))
            assert now - datetime.timedelta(days=1, hours=1) <= dates[-1] <= now - datetime.timedelta(hours=1)
            assert dates[-1] - dates[0] == datetime.timedelta(days=5, hours=23, minutes=30)  # as in the files
            assert Article.objects.published().count() == len(dates)
    with time_machine.travel("2031-03-04T23:59:30Z", tick=False):
        out = StringIO()
        call_command("load_demo", stdout=out)
        assert "updated" not in out.getvalue()
        sitemap = Client().get("/news-sitemap.xml").content.decode()
        assert sitemap.count("<news:news>") >= 1  # published in the last 48 hours
