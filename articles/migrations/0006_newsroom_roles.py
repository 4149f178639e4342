"""The Writer and Editor groups, so a new site has its newsroom roles without anyone clicking them together."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

# Writers draft; what they may do to whose drafts is narrowed further in ArticleAdmin.
WRITER = [
    "add_article",
    "change_article",
    "view_article",
    "view_author",
    "view_section",
    "view_tag",
    "view_revision",
]
EDITOR = [
    *(
        f"{verb}_{model}"
        for verb in ("add", "change", "delete", "view")
        for model in ("article", "author", "section", "tag")
    ),
    "publish_article",
    "add_correction",
    "change_correction",
    "delete_correction",
    "view_correction",
    "view_revision",
    "view_tagredirect",
]


def create_groups(apps, schema_editor):
    # Permissions are normally created after all migrations run; the groups need them now.
    # create_permissions skips an app config without a models module, which historical configs lack.
    app_config = apps.get_app_config("articles")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0, apps=apps)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in (("Writer", WRITER), ("Editor", EDITOR)):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="articles", codename__in=codenames)
        )


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=["Writer", "Editor"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("articles", "0005_editorial_workflow"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
