"""Teasers rendered once and reused (articles/teasers.py): the same HTML as the template renders, and a
new one as soon as anything a teaser shows changes, with no purge."""

from unittest import mock

import pytest
from django.core.cache import cache
from django.template import loader
from django.utils.safestring import mark_safe

from articles import teasers
from articles.models import Article
from tests.factories import ArticleFactory, library_image

pytestmark = pytest.mark.django_db


def fresh(article):
    """The story as a listing loads it, from the database."""
    return Article.objects.select_related("section", "hero").get(pk=article.pk)


def rendered_by_the_template(article, heading_level=2):
    return loader.render_to_string(teasers.TEMPLATE, {"article": article, "heading_level": heading_level})


@pytest.fixture
def story():
    return ArticleFactory(title="Chips ahoy", hero=library_image(focal_x=0.2, focal_y=0.8))


def test_a_kept_teaser_is_what_the_template_renders(story):
    made = teasers.render(fresh(story), 3)
    kept = teasers.render(fresh(story), 3)
    assert made == kept == rendered_by_the_template(fresh(story), 3)
    assert "<h3" in kept and "Chips ahoy" in kept and fresh(story).hero_thumbnail_url in kept


def test_the_second_render_comes_from_the_cache(story):
    teasers.render(fresh(story))
    with mock.patch.object(loader.get_template(teasers.TEMPLATE), "render") as render:
        html = teasers.render(fresh(story))
    render.assert_not_called()
    assert "Chips ahoy" in html


@pytest.mark.parametrize(
    "change",
    [
        lambda a: Article.objects.filter(pk=a.pk).update(title="Chips ahoy, revised"),
        lambda a: Article.objects.filter(pk=a.pk).update(standfirst="A new standfirst."),
        lambda a: Article.objects.filter(pk=a.pk).update(slug="chips-ahoy-moved"),
        lambda a: a.section.__class__.objects.filter(pk=a.section_id).update(name="Silicon"),
        lambda a: a.hero.__class__.objects.filter(pk=a.hero_id).update(focal_x=0.9),
        lambda a: Article.objects.filter(pk=a.pk).update(hero=None),
    ],
    ids=["title", "standfirst", "slug", "section name", "hero focus", "hero removed"],
)
def test_any_change_to_what_a_teaser_shows_makes_a_new_one(story, change):
    before = teasers.render(fresh(story))
    change(story)  # a queryset update: no signal, no purge
    after = teasers.render(fresh(story))
    assert after == rendered_by_the_template(fresh(story))
    assert after != before


def test_the_lead_is_kept_apart_from_the_teaser_and_is_what_its_template_renders(story):
    teaser = teasers.render(fresh(story), 2)
    lead = teasers.render(fresh(story), 2, teasers.LEAD_TEMPLATE)
    hero = fresh(story).hero
    assert lead != teaser and 'class="lead"' in lead and hero.webp_srcset and hero.webp_srcset in lead
    assert lead == loader.render_to_string(
        teasers.LEAD_TEMPLATE, {"article": fresh(story), "heading_level": 2}
    )
    assert teasers.render(fresh(story), 2, teasers.LEAD_TEMPLATE) == lead


def test_heading_levels_are_kept_apart(story):
    assert "<h2" in teasers.render(fresh(story), 2)
    assert "<h3" in teasers.render(fresh(story), 3)


def test_search_results_keep_their_highlights_and_are_not_kept(story):
    found = fresh(story)
    found.search_title = mark_safe("<mark>Chips</mark> ahoy")  # as articles/search.py gives it
    found.search_standfirst = ""
    found.search_snippet = ""
    with mock.patch.object(cache, "set") as kept:
        html = teasers.render(found)
    assert "<mark>Chips</mark> ahoy" in html
    kept.assert_not_called()


def test_a_template_change_is_a_new_teaser(story, monkeypatch):
    teasers.render(fresh(story))
    key = teasers.fingerprint(fresh(story), 2)
    monkeypatch.setitem(teasers._template_fingerprints, teasers.TEMPLATE, "the next release's template")
    assert teasers.fingerprint(fresh(story), 2) != key
    with mock.patch.object(cache, "set") as kept:
        teasers.render(fresh(story))
    kept.assert_called_once()


def test_a_cache_that_fails_still_renders_the_teaser(story, caplog):
    with mock.patch.object(cache, "get", side_effect=ConnectionError("cache down")):
        html = teasers.render(fresh(story))
    assert html == rendered_by_the_template(fresh(story))
    assert "rendering teasers uncached" in caplog.text
