"""Each follow takes its subscriber's one frequency, and the subscriber's last digest closes the period
of that frequency: nothing anyone had chosen changes, and no digest is sent twice."""

from django.db import migrations
from django.db.models import F, OuterRef, Subquery


def per_follow(apps, schema_editor):
    Subscriber = apps.get_model("articles", "Subscriber")
    Follow = apps.get_model("articles", "Follow")
    Follow.objects.update(
        frequency=Subquery(Subscriber.objects.filter(pk=OuterRef("subscriber_id")).values("frequency")[:1])
    )
    for frequency in ("daily", "weekly"):
        Subscriber.objects.filter(frequency=frequency, last_digest_at__isnull=False).update(
            **{f"last_{frequency}_at": F("last_digest_at")}
        )


def per_subscriber(apps, schema_editor):
    """Back: an address takes the most frequent of its follows' frequencies."""
    Subscriber = apps.get_model("articles", "Subscriber")
    Follow = apps.get_model("articles", "Follow")
    for frequency in ("weekly", "daily", "immediate"):
        following = Follow.objects.filter(frequency=frequency).values("subscriber_id")
        Subscriber.objects.filter(pk__in=following).update(frequency=frequency)
    Follow.objects.filter(tag__isnull=True).delete()
    FollowRequest = apps.get_model("articles", "FollowRequest")
    FollowRequest.objects.filter(tag__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("articles", "0019_follow_targets")]

    operations = [migrations.RunPython(per_follow, per_subscriber)]
