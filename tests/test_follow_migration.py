"""Migrations 0019-0021: each address's one frequency becomes its follows' own, and its last digest
closes the period of that frequency, so nobody's emails change and no digest goes twice."""

import datetime

import pytest
from django.utils import timezone

from tests.test_hero_migration import migrate, migrate_to_latest

BEFORE = [("articles", "0018_edge_purge_permissions")]
AFTER = [("articles", "0021_one_frequency_per_follow")]


@pytest.fixture
def old_schema(transactional_db):
    apps = migrate(BEFORE)
    yield apps
    migrate_to_latest()


def test_each_follow_takes_its_address_frequency_and_the_last_digest_is_kept(old_schema):
    Subscriber = old_schema.get_model("articles", "Subscriber")
    Follow = old_schema.get_model("articles", "Follow")
    Tag = old_schema.get_model("articles", "Tag")
    chips, ai = Tag.objects.create(name="Chips", slug="chips"), Tag.objects.create(name="AI", slug="ai")
    last = timezone.now() - datetime.timedelta(hours=3)
    people = {
        "now@example.com": ("immediate", None),
        "daily@example.com": ("daily", last),
        "weekly@example.com": ("weekly", last),
    }
    for email, (frequency, last_digest_at) in people.items():
        person = Subscriber.objects.create(
            email=email, frequency=frequency, confirmed_at=timezone.now(), last_digest_at=last_digest_at
        )
        Follow.objects.create(subscriber=person, tag=chips)
        Follow.objects.create(subscriber=person, tag=ai)

    apps = migrate(AFTER)
    Subscriber = apps.get_model("articles", "Subscriber")
    Follow = apps.get_model("articles", "Follow")
    for email, (frequency, _) in people.items():
        assert set(Follow.objects.filter(subscriber__email=email).values_list("frequency", flat=True)) == {
            frequency
        }
    digests = {s.email: (s.last_daily_at, s.last_weekly_at) for s in Subscriber.objects.all()}
    assert digests == {
        "now@example.com": (None, None),
        "daily@example.com": (last, None),
        "weekly@example.com": (None, last),
    }
