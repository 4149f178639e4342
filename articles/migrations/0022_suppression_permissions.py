"""Editors see which addresses are suppressed after bounces or complaints, and may lift a suppression."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

EDITOR_PERMISSIONS = ["view_suppression", "delete_suppression"]


def _permissions(apps):
    # As in 0006: permissions are normally created after all migrations run; the group needs them now.
    app_config = apps.get_app_config("articles")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0, apps=apps)
    app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.filter(content_type__app_label="articles", codename__in=EDITOR_PERMISSIONS)


def grant(apps, schema_editor):
    for group in apps.get_model("auth", "Group").objects.filter(name="Editor"):
        group.permissions.add(*_permissions(apps))


def revoke(apps, schema_editor):
    for group in apps.get_model("auth", "Group").objects.filter(name="Editor"):
        group.permissions.remove(*_permissions(apps))


class Migration(migrations.Migration):
    dependencies = [("articles", "0021_one_frequency_per_follow")]

    operations = [migrations.RunPython(grant, revoke)]
