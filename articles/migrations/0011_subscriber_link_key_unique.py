"""Every subscriber has a link key now (0010): make it unique, with a random one for each new row."""

import articles.models
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("articles", "0010_subscriber_link_keys")]

    operations = [
        migrations.AlterField(
            model_name="subscriber",
            name="link_key",
            field=models.CharField(
                default=articles.models.new_link_key, editable=False, max_length=32, unique=True
            ),
        ),
    ]
