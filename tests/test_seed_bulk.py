"""manage.py seed_bulk: a large fake newsroom by bulk inserts, consistent with what save() would store."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count
from django.utils import timezone
from django.utils.html import escape

from articles import rendering
from articles.models import Article, Author, Image, Section, Tag, TaggedArticle

ARTICLES = 60


def seed(*extra):
    out = StringIO()
    call_command(
        "seed_bulk",
        "--articles", str(ARTICLES), "--sections", "5", "--tags", "40", "--authors", "6",
        "--batch", "25", *extra,
        stdout=out,
    )  # fmt: skip
    return out.getvalue()


@pytest.fixture
def seeded(db):
    return seed()


def test_seed_builds_a_complete_newsroom(seeded):  # one seed, many checks: each seed costs ~1 s
    assert "  25/60 articles" in seeded and "  60/60 articles" in seeded
    assert f"Seeded {ARTICLES} articles" in seeded
    assert (Article.objects.count(), Section.objects.count(), Tag.objects.count()) == (ARTICLES, 5, 40)
    assert Author.objects.count() == 6
    slugs = list(Article.objects.values_list("slug", flat=True))
    assert len(set(slugs)) == len(slugs)

    published = Article.objects.published()
    assert published.count() == ARTICLES - 2  # one draft and one scheduled story in every 50
    for article in published.prefetch_related("tagged_items", "authors"):
        assert article.section_id is not None
        assert article.body_html.startswith("<p>") and article.excerpt
        assert article.renderer_version == rendering.RENDERER_VERSION
        assert 3 <= len(article.tagged_items.all()) <= 6
        assert 1 <= len(article.authors.all()) <= 2
    assert Article.objects.filter(status=Article.Status.DRAFT, published_at__isnull=True).count() == 1
    assert (
        Article.objects.filter(status=Article.Status.PUBLISHED, published_at__gt=timezone.now()).count() == 1
    )
    assert published.filter(is_featured=True).count() == 1

    # Tags: Zipf-like, the first ones on a large share of the articles.
    counts = list(Tag.objects.annotate(n=Count("tagged_articles")).order_by("-n").values_list("n", flat=True))
    assert counts[0] >= ARTICLES * 0.3  # the top tag is on a large share of the articles
    assert counts[-1] < counts[0] / 4
    assert TaggedArticle.objects.count() >= 3 * ARTICLES

    # One hero image, processed once, shared by a part of the articles.
    with_hero = Article.objects.filter(hero__isnull=False)
    assert 0 < with_hero.count() < ARTICLES
    assert Image.objects.count() == 1
    article = with_hero.first()
    hero = article.hero
    assert hero.alt and hero.credit
    assert hero.renditions["source"] == hero.file.name
    assert len(hero.renditions["sizes"]) == 4
    storage = hero.file.storage
    assert storage.exists(hero.file.name)
    assert all(storage.exists(size["webp"]) for size in hero.renditions["sizes"])
    assert article.hero_thumbnail_url


def test_stored_html_is_what_rendering_the_body_gives(seeded):
    """The words are substituted after rendering: the result must equal a real render of the body."""
    articles = list(Article.objects.all())
    assert len({article.body_html.count("<h2") for article in articles}) >= 2  # several body templates
    for article in articles:
        html = rendering.render_markdown(article.body)
        assert article.body_html == html, article.slug
        assert article.excerpt == rendering.plain_excerpt(html)
        assert article.reading_time == rendering.reading_time_minutes(article.body)
    for tag in Tag.objects.all():
        assert tag.description_html == rendering.render_markdown(tag.description)


# What seed_bulk chooses for a story: what an editor would enter, and the one shared hero image with
# its renditions (so that saving a copy does not write them again).
STORY_INPUTS = (
    "title", "standfirst", "body", "section_id", "status", "is_featured", "published_at",
    "hero_id",
)  # fmt: skip


def test_every_column_holds_what_saving_the_article_would_store(db):
    """Each column seed_bulk does not choose holds what Article.save would store: the derived ones
    (body_html, excerpt, reading time, renderer version, the search vector) and the defaults of the
    rest. Compared column by column over Article's concrete fields, so a field added to the model is
    checked too: on PostgreSQL through the COPY writer, elsewhere through bulk_create."""
    started = timezone.now()
    seed()
    finished = timezone.now()
    stored = list(Article.objects.order_by("pk").values())
    now = timezone.now()
    sample = [
        row
        for i, row in enumerate(stored)
        if i % 6 == 0 or row["is_featured"] or row["published_at"] is None or row["published_at"] > now
    ]
    assert {row["status"] for row in sample} == {"draft", "published"}
    assert {row["hero_id"] is not None for row in sample} == {True, False}
    for row in sample:
        copy = Article(**{name: row[name] for name in STORY_INPUTS}, slug=f"{row['slug']}-saved")
        copy.save()
        saved = Article.objects.values().get(pk=copy.pk)
        for field in Article._meta.concrete_fields:
            if field.primary_key or field.name == "slug":
                continue
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                assert started <= row[field.attname] <= finished, (field.name, row["slug"])
            else:
                assert row[field.attname] == saved[field.attname], (field.name, row["slug"])


def test_a_second_run_adds_articles_and_reuses_the_rest(seeded):
    seed("--seed", "2")
    slugs = list(Article.objects.values_list("slug", flat=True))
    assert len(slugs) == 2 * ARTICLES == len(set(slugs))
    assert (Section.objects.count(), Tag.objects.count(), Author.objects.count()) == (5, 40, 6)


def test_pages_answer_afterwards(client, seeded):
    assert client.get("/").status_code == 200
    tag = Tag.objects.annotate(n=Count("tagged_articles")).order_by("-n").first()
    response = client.get(f"/tags/{tag.slug}/")
    assert response.status_code == 200
    newest = Article.objects.published().filter(tagged_items__tag=tag).first()
    assert escape(newest.title).encode() in response.content


@pytest.mark.parametrize("first", [150, 198, 199, 200, 201, 260])
def test_excerpt_without_parsing_matches_plain_excerpt(first):
    """seed_bulk cuts excerpts from stored paragraph texts; at every length near the limit as render does."""
    paragraphs = [("word " * 60)[: first - 1] + ".", "Second paragraph here.", "Third."]
    html = "".join(f"<p>{para}</p>" for para in paragraphs)
    assert rendering.excerpt_of_paragraphs(paragraphs) == rendering.plain_excerpt(html)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="parallel COPY streams are PostgreSQL only")
def test_parallel_copy_streams_make_the_same_articles_as_one():
    """Outside a transaction, PostgreSQL gets parallel COPY streams; each batch has its own seeded
    random generator, so the data does not depend on which thread wrote which batch."""
    options = ["--articles", "120", "--batch", "25", "--tags", "30", "--authors", "5"]
    out = StringIO()
    call_command("seed_bulk", *options, "--workers", "3", stdout=out)
    assert "COPY, 3 streams" in out.getvalue()
    first_ids = set(Article.objects.values_list("pk", flat=True))
    call_command("seed_bulk", *options, "--workers", "1", stdout=StringIO())

    def titles(articles):
        numbered = sorted((int(a.slug.rsplit("-", 1)[1]), a.title, a.tagged_items.count()) for a in articles)
        return [(title, tags) for _, title, tags in numbered]

    first = Article.objects.filter(pk__in=first_ids).prefetch_related("tagged_items")
    second = Article.objects.exclude(pk__in=first_ids).prefetch_related("tagged_items")
    assert len(first) == len(second) == 120
    assert titles(first) == titles(second)
    assert Article.objects.values("slug").distinct().count() == 240
