"""Editors see the embeds and fetch failed ones again from the admin; writers see why theirs failed."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

WRITER_EMBED_PERMISSIONS = ["view_embed"]
EDITOR_EMBED_PERMISSIONS = ["view_embed", "change_embed"]


def _permissions(apps, codenames):
    # As in 0006: permissions are normally created after all migrations run; the groups need them now.
    app_config = apps.get_app_config("articles")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0, apps=apps)
    app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.filter(content_type__app_label="articles", codename__in=codenames)


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name, codenames in (("Writer", WRITER_EMBED_PERMISSIONS), ("Editor", EDITOR_EMBED_PERMISSIONS)):
        for group in Group.objects.filter(name=name):
            group.permissions.add(*_permissions(apps, codenames))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name__in=["Writer", "Editor"]):
        group.permissions.remove(*_permissions(apps, EDITOR_EMBED_PERMISSIONS))


class Migration(migrations.Migration):
    dependencies = [("articles", "0015_embed")]

    operations = [migrations.RunPython(grant, revoke)]
