"""Edge purges after a change (articles/edge.py): sent after the commit with the change's keys, kept when
the edge does not confirm, tried again until it does, visible to editors; and the Cache-Control an
edge gets when it is purged by key.

The edge here is FakeVarnish on 127.0.0.1 (tests/support/fake_edges.py); the real varnishd is in
tests/test_varnish.py.
"""

import datetime

import pytest
from django.core.management import call_command

from articles import edge
from articles.edge import EdgePurge
from articles.models import Article
from tests.factories import ArticleFactory, SectionFactory
from tests.support.fake_edges import Answer, FakeVarnish


@pytest.fixture
def varnish(settings):
    fake = FakeVarnish()
    settings.EDGE_PURGE_URL = f"varnish://{fake.address}"
    settings.EDGE_PURGE_TIMEOUT = 1.0
    yield fake
    fake.stop()


def purged_keys(fake):
    return [
        set(request.headers["xkey-purge"].split())
        for request in fake.requests
        if "xkey-purge" in request.headers
    ]


def correct(article, title="A corrected headline"):
    article.title = title
    article.save()


def test_a_correction_is_purged_at_the_edge_after_the_commit_with_its_keys(
    db, varnish, django_capture_on_commit_callbacks
):
    article = ArticleFactory()
    varnish.requests.clear()
    with django_capture_on_commit_callbacks() as callbacks:
        correct(article)
        assert varnish.requests == []  # not before the commit: the old page is still the truth
    for callback in callbacks:
        callback()
    [keys] = purged_keys(varnish)
    # Its page, and every listing showing its card (listings carry the card's key): nothing moved.
    assert {f"story-{article.pk}", f"card-{article.pk}"} <= keys
    assert f"list-section-{article.section_id}" not in keys
    assert EdgePurge.objects.count() == 0


def test_no_edge_configured_sends_nothing_and_keeps_nothing(db, settings, django_capture_on_commit_callbacks):
    settings.EDGE_PURGE_URL = ""
    with django_capture_on_commit_callbacks(execute=True):
        correct(ArticleFactory())
    assert EdgePurge.objects.count() == 0


@pytest.mark.parametrize(
    "failure", [Answer(status=503, body=b"backend fetch failed", type="text/plain"), Answer(delay=3)]
)
def test_a_failed_edge_purge_is_kept_and_the_save_stands(
    db, varnish, failure, django_capture_on_commit_callbacks
):
    article = ArticleFactory()
    varnish.queue(failure)
    with django_capture_on_commit_callbacks(execute=True):
        correct(article)
    assert Article.objects.get(pk=article.pk).title == "A corrected headline"
    [kept] = EdgePurge.objects.all()
    assert f"story-{article.pk}" in kept.key_list()
    assert kept.last_error
    assert kept.next_attempt_at > kept.created_at


def test_kept_purges_are_retried_until_the_edge_confirms(
    db, varnish, time_machine, django_capture_on_commit_callbacks
):
    time_machine.move_to(datetime.datetime(2026, 11, 18, 12, tzinfo=datetime.UTC))
    article = ArticleFactory()
    varnish.queue(Answer(status=503, type="text/plain"), Answer(status=503, type="text/plain"))
    with django_capture_on_commit_callbacks(execute=True):
        correct(article)
    assert EdgePurge.objects.count() == 1

    call_command("purge_edge")  # not due yet: nothing sent
    assert len(purged_keys(varnish)) == 1

    time_machine.shift(datetime.timedelta(seconds=edge.FIRST_RETRY_SECONDS + 1))
    call_command("purge_edge")  # due, and the edge fails again: kept, waiting longer
    [kept] = EdgePurge.objects.all()
    assert kept.attempts == 2
    assert len(purged_keys(varnish)) == 2

    time_machine.shift(datetime.timedelta(seconds=2 * edge.FIRST_RETRY_SECONDS + 1))
    call_command("purge_edge")
    assert EdgePurge.objects.count() == 0
    assert f"story-{article.pk}" in purged_keys(varnish)[-1]


def test_the_next_purge_that_lands_takes_the_kept_ones_along(
    db, varnish, time_machine, django_capture_on_commit_callbacks
):
    time_machine.move_to(datetime.datetime(2026, 11, 18, 12, tzinfo=datetime.UTC))
    first, second = ArticleFactory(), ArticleFactory()
    varnish.queue(Answer(status=503, type="text/plain"))
    with django_capture_on_commit_callbacks(execute=True):
        correct(first)
    time_machine.shift(datetime.timedelta(seconds=edge.FIRST_RETRY_SECONDS + 1))
    with django_capture_on_commit_callbacks(execute=True):
        correct(second)
    assert EdgePurge.objects.count() == 0
    assert f"story-{first.pk}" in purged_keys(varnish)[-1]


def test_editors_see_kept_purges_and_try_them_again(
    client, db, varnish, django_user_model, django_capture_on_commit_callbacks
):
    from django.contrib.auth.models import Group

    editor = django_user_model.objects.create_user("ed", "ed@example.com", "pw", is_staff=True)
    editor.groups.add(Group.objects.get(name="Editor"))
    client.force_login(editor)
    varnish.queue(Answer(status=503, type="text/plain"))
    with django_capture_on_commit_callbacks(execute=True):
        correct(ArticleFactory())
    page = client.get("/admin/articles/edgepurge/")
    assert page.status_code == 200
    assert "503" in page.content.decode()
    kept = EdgePurge.objects.get()
    response = client.post(
        "/admin/articles/edgepurge/", {"action": "try_again", "_selected_action": [kept.pk]}, follow=True
    )
    assert "1 purge(s) landed; none is kept." in response.content.decode()
    assert EdgePurge.objects.count() == 0
    assert client.get(f"/admin/articles/edgepurge/{kept.pk}/change/").status_code in (302, 404)


def test_an_edge_purged_by_key_may_keep_pages_for_hours(client, db, settings):
    settings.EDGE_PURGE_URL = "varnish://127.0.0.1:9"  # never called: only read to decide the header
    article = ArticleFactory(section=SectionFactory())
    response = client.get(f"/sections/{article.section.slug}/")
    assert f"s-maxage={settings.EDGE_CACHE_SECONDS}" in response["Cache-Control"]
    settings.EDGE_PURGE_URL = ""
    response = client.get(f"/sections/{article.section.slug}/?page=1&utm_source=x")
    assert response["X-Cache"] == "hit"  # the same page, as kept
    other = client.get(f"/sections/{article.section.slug}/feed/")
    assert f"s-maxage={settings.PAGE_CACHE_SECONDS}" in other["Cache-Control"]


def test_pages_tell_the_edge_what_they_show(client, db):
    article = ArticleFactory()
    response = client.get(article.get_absolute_url())
    keys = set(response["Surrogate-Key"].split())
    assert {f"story-{article.pk}", f"section-{article.section_id}", "nav", "footer", "site"} <= keys
    assert set(response["Cache-Tag"].split(",")) == keys
    hit = client.get(article.get_absolute_url())
    assert hit["X-Cache"] == "hit" and hit["Surrogate-Key"] == response["Surrogate-Key"]
