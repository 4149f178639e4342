"""A random link key for every subscriber there is (see 0009)."""

import secrets

from django.db import migrations

BATCH = 1000


def fill_link_keys(apps, schema_editor):
    Subscriber = apps.get_model("articles", "Subscriber")
    batch = []
    for subscriber in Subscriber.objects.filter(link_key__isnull=True).only("pk").iterator(chunk_size=BATCH):
        subscriber.link_key = secrets.token_urlsafe(16)
        batch.append(subscriber)
        if len(batch) == BATCH:
            Subscriber.objects.bulk_update(batch, ["link_key"])
            batch = []
    Subscriber.objects.bulk_update(batch, ["link_key"])


class Migration(migrations.Migration):
    dependencies = [("articles", "0009_follow_requests")]

    operations = [migrations.RunPython(fill_link_keys, migrations.RunPython.noop)]
