"""Every change that can alter a public page bumps the content generation of conclave/pagecache.py.

The bump waits for the commit: bumped earlier, a visitor could cache the old page again under the new
generation before the change is visible.
"""

from functools import partial

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from articles import images
from articles.context_processors import NAV_SECTIONS
from articles.models import (
    Article,
    Author,
    Correction,
    Embed,
    Image,
    Section,
    Tag,
    TaggedArticle,
    TagRedirect,
)
from conclave.pagecache import bump_generation, forget

PUBLIC_MODELS = (Article, Section, Author, Tag, TaggedArticle, Correction, TagRedirect, Image, Embed)


def content_changed(sender, using=None, **kwargs):
    transaction.on_commit(bump_generation, using=using)


def content_removed(sender, using=None, **kwargs):
    # Something readers could see is gone (a delete, a byline removed): a hard bump, so no page made
    # before it is served again, not even in the seconds' grace while a busy page is made again.
    transaction.on_commit(partial(bump_generation, hard=True), using=using)


def _changed(sender, using, taken_down):
    (content_removed if taken_down else content_changed)(sender, using=using)


def article_saved(sender, instance, created, using=None, **kwargs):
    # Taken down: readers could see it before this save and cannot now (unpublished, moved back to a
    # future time). A draft's or a scheduled story's edit shows on no page: a soft bump keeps the grace.
    _changed(sender, using, taken_down=instance.was_live and not instance.is_live)


def article_deleted(sender, instance, using=None, **kwargs):
    _changed(sender, using, taken_down=instance.was_live)


def part_of_article_deleted(sender, instance, using=None, **kwargs):
    # A tag taken off a story, or a correction deleted: taken down only if the story is live.
    article_id = instance.content_object_id if sender is TaggedArticle else instance.article_id
    live = Article.objects.filter(pk=article_id).published().exists()
    _changed(sender, using, taken_down=live)


def sections_changed(sender, using=None, **kwargs):
    # The header's navigation is kept across content generations (articles/context_processors.py).
    transaction.on_commit(partial(forget, NAV_SECTIONS), using=using)


def bylines_changed(sender, instance, action, using=None, **kwargs):
    if action in ("post_add", "post_remove", "post_clear"):
        # From the author's side (author.articles.remove(…)), instance is the author: a hard bump.
        live = instance.is_live if isinstance(instance, Article) else True
        _changed(sender, using, taken_down=action != "post_add" and live)


def image_deleted(sender, instance, using=None, **kwargs):
    # Its renditions are named by no row once the delete commits. The original upload stays, as every
    # replaced original does: the site never deletes what an editor uploaded.
    delete = partial(images.delete_renditions, instance.renditions, instance.file.storage)
    transaction.on_commit(delete, using=using, robust=True)


ON_DELETE = {
    Article: article_deleted,
    TaggedArticle: part_of_article_deleted,
    Correction: part_of_article_deleted,
}


def connect():
    for model in PUBLIC_MODELS:
        uid = f"pagecache-{model._meta.label_lower}"
        saved = article_saved if model is Article else content_changed
        deleted = ON_DELETE.get(model, content_removed)
        post_save.connect(saved, sender=model, dispatch_uid=f"{uid}-save")
        post_delete.connect(deleted, sender=model, dispatch_uid=f"{uid}-delete")
    post_save.connect(sections_changed, sender=Section, dispatch_uid="pagecache-navigation-save")
    post_delete.connect(sections_changed, sender=Section, dispatch_uid="pagecache-navigation-delete")
    post_delete.connect(image_deleted, sender=Image, dispatch_uid="library-renditions-delete")
    m2m_changed.connect(bylines_changed, sender=Article.authors.through, dispatch_uid="pagecache-bylines")
