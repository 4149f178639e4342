"""Editors manage subscribers, as the README says: see them (and what they follow), export the confirmed
ones as CSV (an action that needs the view permission) and delete one on request. Writers get none of it."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

EDITOR_SUBSCRIBER_PERMISSIONS = ["view_subscriber", "delete_subscriber", "view_follow"]


def _permissions(apps):
    # As in 0006: permissions are normally created after all migrations run; the group needs them now.
    app_config = apps.get_app_config("articles")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0, apps=apps)
    app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.filter(
        content_type__app_label="articles", codename__in=EDITOR_SUBSCRIBER_PERMISSIONS
    )


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for editors in Group.objects.filter(name="Editor"):
        editors.permissions.add(*_permissions(apps))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for editors in Group.objects.filter(name="Editor"):
        editors.permissions.remove(*_permissions(apps))


class Migration(migrations.Migration):
    dependencies = [("articles", "0007_tag_show_early")]

    operations = [migrations.RunPython(grant, revoke)]
