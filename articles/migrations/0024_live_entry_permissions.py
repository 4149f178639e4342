"""Editors post, change and delete any story's live updates; writers post to the live stories they are
on the byline of, and change or delete their own updates (articles/admin/live.py checks which)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "Editor": ["add_liveentry", "change_liveentry", "delete_liveentry", "view_liveentry"],
    "Writer": ["add_liveentry", "change_liveentry", "delete_liveentry", "view_liveentry"],
}


def _permissions(apps, codenames):
    # As in 0006: permissions are normally created after all migrations run; the groups need them now.
    app_config = apps.get_app_config("articles")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0, apps=apps)
    app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.filter(content_type__app_label="articles", codename__in=codenames)


def grant(apps, schema_editor):
    for name, codenames in GRANTS.items():
        for group in apps.get_model("auth", "Group").objects.filter(name=name):
            group.permissions.add(*_permissions(apps, codenames))


def revoke(apps, schema_editor):
    for name, codenames in GRANTS.items():
        for group in apps.get_model("auth", "Group").objects.filter(name=name):
            group.permissions.remove(*_permissions(apps, codenames))


class Migration(migrations.Migration):
    dependencies = [("articles", "0023_live_coverage")]

    operations = [migrations.RunPython(grant, revoke)]
