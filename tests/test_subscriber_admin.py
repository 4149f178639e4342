"""Editors' view of subscribers: search, counts, CSV export and removal on request."""

import csv
import io

from django.urls import reverse
from django.utils import timezone

from articles.models import Delivery, Follow, Subscriber
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
    assert "AI, Chips" in content
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
    assert rows[0] == ["email", "frequency", "confirmed_at", "tags"]
    assert [row[0] for row in rows[1:]] == ["'=cmd@example.com", "ada@example.com"]
    assert rows[2][3] == "AI"


def test_deleting_a_subscriber_removes_follows_and_deliveries(editor_client, db):
    ai = TagFactory(name="AI")
    person = subscriber("ada@example.com", ai)
    Delivery.objects.create(subscriber=person, article=ArticleFactory(tags=[ai]))
    response = editor_client.post(
        reverse("admin:articles_subscriber_delete", args=[person.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not Subscriber.objects.exists()
    assert not Follow.objects.exists() and not Delivery.objects.exists()
