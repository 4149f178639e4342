"""Every hero becomes an image of the library, losing nothing: the file and its renditions stay where
they are (so every address already handed out keeps answering), and its alt text, caption and credit
move with it. Stories that shared one file share one image. Writers may add and describe images,
editors may also delete them."""

import posixpath

from django.contrib.auth.management import create_permissions
from django.db import migrations

WRITER_IMAGE_PERMISSIONS = ["add_image", "change_image", "view_image"]
EDITOR_IMAGE_PERMISSIONS = [*WRITER_IMAGE_PERMISSIONS, "delete_image"]


def heroes_into_library(apps, schema_editor):
    Article = apps.get_model("articles", "Article")
    Image = apps.get_model("articles", "Image")
    by_file = {}
    heroes = Article.objects.exclude(hero_image="").order_by("pk")
    for article in heroes.iterator(chunk_size=500):
        name = article.hero_image.name
        image = by_file.get(name)
        if image is None:
            renditions = article.hero_renditions or {}
            image = by_file[name] = Image.objects.create(
                file=name,
                alt=article.hero_alt,
                caption=article.hero_caption,
                credit=article.hero_credit,
                original_filename=posixpath.basename(name),
                width=renditions.get("width", 0),
                height=renditions.get("height", 0),
                renditions=renditions,
                uploaded_at=article.created_at,
                uploaded_by_id=article.created_by_id,
            )
        Article.objects.filter(pk=article.pk).update(hero=image)


def library_into_heroes(apps, schema_editor):
    Article = apps.get_model("articles", "Article")
    for article in Article.objects.exclude(hero=None).select_related("hero").iterator(chunk_size=500):
        image = article.hero
        Article.objects.filter(pk=article.pk).update(
            hero_image=image.file.name,
            hero_renditions=image.renditions,
            hero_alt=image.alt,
            hero_caption=image.caption,
            hero_credit=image.credit,
        )


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
    for name, codenames in (("Writer", WRITER_IMAGE_PERMISSIONS), ("Editor", EDITOR_IMAGE_PERMISSIONS)):
        for group in Group.objects.filter(name=name):
            group.permissions.add(*_permissions(apps, codenames))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name__in=["Writer", "Editor"]):
        group.permissions.remove(*_permissions(apps, EDITOR_IMAGE_PERMISSIONS))


class Migration(migrations.Migration):
    dependencies = [("articles", "0012_image_library")]

    operations = [
        migrations.RunPython(heroes_into_library, library_into_heroes),
        migrations.RunPython(grant, revoke),
    ]
