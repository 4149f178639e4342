"""The hero's own columns are gone: 0013 moved every one into the image library."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("articles", "0013_heroes_into_library")]

    operations = [
        *(
            migrations.RemoveField(model_name="article", name=name)
            for name in ("hero_image", "hero_renditions", "hero_alt", "hero_caption", "hero_credit")
        ),
        migrations.AlterField(
            model_name="article",
            name="body",
            field=models.TextField(
                help_text=(
                    "Markdown: ## for section headings, ### for sub-headings, [text](https://…) for links. "
                    "“Insert image” adds a picture of the library on its own line, ![alt text](image:42); "
                    "add {.wide} or {.full-bleed} after it for a larger layout. Pictures on consecutive lines "
                    "make a gallery."
                ),
                max_length=200000,
            ),
        ),
    ]
