"""The image library: every picture a story shows is an Image; the hero points at one (0013 moves the
old hero columns in, 0014 drops them)."""

import django.core.validators
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("articles", "0011_subscriber_link_key_unique"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Image",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "file",
                    models.ImageField(
                        help_text="JPEG, PNG, WebP or GIF, at least 1200 px wide for sharp social cards.",
                        upload_to="library/%Y/%m/",
                    ),
                ),
                (
                    "alt",
                    models.CharField(
                        help_text="What the image shows, for readers who cannot see it.",
                        max_length=250,
                        verbose_name="alt text",
                    ),
                ),
                ("caption", models.CharField(blank=True, help_text="Shown under the image.", max_length=300)),
                ("credit", models.CharField(help_text="Photographer or agency.", max_length=200)),
                (
                    "focal_x",
                    models.FloatField(
                        default=0.5,
                        validators=[
                            django.core.validators.MinValueValidator(0),
                            django.core.validators.MaxValueValidator(1),
                        ],
                        verbose_name="focal point across",
                    ),
                ),
                (
                    "focal_y",
                    models.FloatField(
                        default=0.5,
                        validators=[
                            django.core.validators.MinValueValidator(0),
                            django.core.validators.MaxValueValidator(1),
                        ],
                        verbose_name="focal point down",
                    ),
                ),
                ("original_filename", models.CharField(blank=True, editable=False, max_length=255)),
                ("checksum", models.CharField(blank=True, db_index=True, editable=False, max_length=64)),
                ("width", models.PositiveIntegerField(default=0, editable=False)),
                ("height", models.PositiveIntegerField(default=0, editable=False)),
                ("renditions", models.JSONField(blank=True, default=dict, editable=False)),
                ("uploaded_at", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                (
                    "uploaded_by",
                    models.ForeignKey(
                        blank=True,
                        editable=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"ordering": ["-uploaded_at", "-id"]},
        ),
        migrations.AddField(
            model_name="article",
            name="hero",
            field=models.ForeignKey(
                blank=True,
                help_text="From the image library: at least 1200 px wide for sharp social cards.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="hero_of",
                to="articles.image",
                verbose_name="hero image",
            ),
        ),
        migrations.AddField(
            model_name="article",
            name="figures",
            field=models.ManyToManyField(
                blank=True, editable=False, related_name="figure_in", to="articles.image"
            ),
        ),
    ]
