"""Editors' view of subscribers: search, counts, CSV export and removal on request."""

import csv
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from articles.following.tokens import find_request, new_request
from articles.models import Delivery, Follow, FollowRequest, Subscriber
from tests.factories import ArticleFactory, TagFactory


def subscriber(email, *tags, confirmed=True):
    person = Subscriber.objects.create(email=email, confirmed_at=timezone.now() if confirmed else None)
    for tag in tags:
        Follow.objects.create(subscriber=person, tag=tag)
    return person


def test_subscriber_list_is_searchable_and_shows_follows(editor_client, db):
    ai, chips = TagFactory(name="AI"), TagFactory(name="Chips")
    subscriber("ada@example.com", ai, chips)
    subscriber("bo@example.com", chips, confirmed=False)
    url = reverse("admin:articles_subscriber_changelist")
    content = editor_client.get(url, {"q": "ada"}).content.decode()
    assert "ada@example.com" in content and "bo@example.com" not in content
    assert "Tag AI (immediate); Tag Chips (immediate)" in content
    content = editor_client.get(url, {"q": "chips"}).content.decode()
    assert "ada@example.com" in content and "bo@example.com" in content


def test_tag_admin_counts_confirmed_followers(editor_client, db):
    ai = TagFactory(name="AI")
    subscriber("ada@example.com", ai)
    subscriber("cy@example.com", ai)
    subscriber("bo@example.com", ai, confirmed=False)
    ArticleFactory(tags=[ai])
    response = editor_client.get(reverse("admin:articles_tag_changelist"))
    tag = next(t for t in response.context["cl"].result_list if t.pk == ai.pk)
    assert (tag.article_count, tag.follower_count) == (1, 2)


def test_csv_export_lists_confirmed_subscribers_only_and_defuses_formulas(editor_client, db):
    ai = TagFactory(name="AI")
    people = [
        subscriber("ada@example.com", ai),
        subscriber("=cmd@example.com", ai),
        subscriber("bo@example.com", ai, confirmed=False),
    ]
    response = editor_client.post(
        reverse("admin:articles_subscriber_changelist"),
        {"action": "export_confirmed_csv", "_selected_action": [p.pk for p in people]},
    )
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["email", "confirmed_at", "follows"]
    assert [row[0] for row in rows[1:]] == ["'=cmd@example.com", "ada@example.com"]
    assert rows[2][2] == "Tag AI (immediate)"


def test_deleting_a_subscriber_removes_follows_deliveries_and_pending_requests(editor_client, db):
    ai = TagFactory(name="AI", show_early=True)
    person = subscriber("ada@example.com", ai)
    Delivery.objects.create(subscriber=person, article=ArticleFactory(tags=[ai]))
    _, older_link = new_request(ai, "ada@example.com", "daily")  # would subscribe the address again
    new_request(ai, "bo@example.com", "daily")
    response = editor_client.post(
        reverse("admin:articles_subscriber_delete", args=[person.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Subscriber.objects.exists()
    assert not Follow.objects.exists() and not Delivery.objects.exists()
    assert list(FollowRequest.objects.values_list("email", flat=True)) == ["bo@example.com"]
    assert find_request(older_link) is None


def test_deleting_selected_subscribers_forgets_their_pending_requests(editor_client, db):
    ai = TagFactory(name="AI", show_early=True)
    people = [subscriber(f"{name}@example.com", ai) for name in ("ada", "bo", "cy")]
    for person in people:
        new_request(ai, person.email, "weekly")
    response = editor_client.post(
        reverse("admin:articles_subscriber_changelist"),
        {"action": "delete_selected", "_selected_action": [p.pk for p in people[:2]], "post": "yes"},
    )
    assert response.status_code == 302
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["cy@example.com"]
    assert list(FollowRequest.objects.values_list("email", flat=True)) == ["cy@example.com"]


# Who may: editors see, export and delete subscribers (README, "Following tags by email"); writers nothing.


def _as(client, django_user_model, role):
    from tests.test_roles import make_user

    user = make_user(django_user_model, role)
    if user:
        client.force_login(user)
    return client


def _list(client, person):
    return b"ada@example.com" in client.get(reverse("admin:articles_subscriber_changelist")).content


def _see_follows(client, person):
    return b"Topic AI" in client.get(reverse("admin:articles_subscriber_change", args=[person.pk])).content


def _export(client, person):
    response = client.post(
        reverse("admin:articles_subscriber_changelist"),
        {"action": "export_confirmed_csv", "_selected_action": [person.pk]},
    )
    return response.status_code == 200 and b"ada@example.com" in response.content


def _delete(client, person):
    client.post(reverse("admin:articles_subscriber_delete", args=[person.pk]), {"post": "yes"})
    return not Subscriber.objects.filter(pk=person.pk).exists()


def _change(client, person):
    form = {"email": "forged@example.com", "frequency": "daily"}
    form.update({"follows-TOTAL_FORMS": "0", "follows-INITIAL_FORMS": "0"})
    client.post(reverse("admin:articles_subscriber_change", args=[person.pk]), form)
    return Subscriber.objects.filter(email="forged@example.com").exists()


SUBSCRIBER_ACTIONS = {
    "list": _list,
    "see follows": _see_follows,
    "export": _export,
    "delete": _delete,
    "change": _change,
}
MAY = {"editor": {"list", "see follows", "export", "delete"}, "writer": set(), "anonymous": set()}


@pytest.mark.parametrize("action", list(SUBSCRIBER_ACTIONS))
@pytest.mark.parametrize("role", list(MAY))
def test_editors_manage_subscribers_and_writers_cannot(client, django_user_model, role, action):
    person = subscriber("ada@example.com", TagFactory(name="Topic AI"))
    _as(client, django_user_model, role)
    assert SUBSCRIBER_ACTIONS[action](client, person) is (action in MAY[role])
