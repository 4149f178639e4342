"""Follow requests as rows of their own, and random link keys for subscribers (issue 15, findings 9 and 11).

A follow request (address, tag, frequency) is confirmed by its own link alone; an address that has not
confirmed is no longer a Subscriber row that later requests change, so confirmation_sent_at goes (a
request's created_at says when its link went out). Each subscriber gets a random link key, signed into
their settings and unsubscribe links in place of their id: as a unique column with a random default it
takes three steps (this migration adds it empty, 0010 fills it, 0011 makes it unique), as Django's
"Migrations that add unique fields" shows.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("articles", "0008_editors_manage_subscribers"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="subscriber",
            name="confirmation_sent_at",
        ),
        migrations.AddField(
            model_name="subscriber",
            name="link_key",
            field=models.CharField(editable=False, max_length=32, null=True),
        ),
        migrations.CreateModel(
            name="FollowRequest",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("email", models.EmailField(max_length=254)),
                (
                    "frequency",
                    models.CharField(
                        choices=[
                            ("immediate", "As soon as a story is published"),
                            ("daily", "Daily digest"),
                            ("weekly", "Weekly digest"),
                        ],
                        max_length=10,
                    ),
                ),
                ("token_digest", models.CharField(editable=False, max_length=64, unique=True)),
                ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                ("confirmed_at", models.DateTimeField(blank=True, null=True)),
                (
                    "tag",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="follow_requests",
                        to="articles.tag",
                    ),
                ),
            ],
        ),
    ]
