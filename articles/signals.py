"""Every change that can alter a public page bumps the content generation of conclave/pagecache.py.

The bump waits for the commit: bumped earlier, a visitor could cache the old page again under the new
generation before the change is visible.
"""

from functools import partial

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from articles.context_processors import NAV_SECTIONS
from articles.models import Article, Author, Correction, Section, Tag, TaggedArticle, TagRedirect
from conclave.pagecache import bump_generation, forget

PUBLIC_MODELS = (Article, Section, Author, Tag, TaggedArticle, Correction, TagRedirect)


def content_changed(sender, using=None, **kwargs):
    transaction.on_commit(bump_generation, using=using)


def content_removed(sender, using=None, **kwargs):
    # Something readers could see is gone (a delete, a byline removed): a hard bump, so no page made
    # before it is served again, not even in the seconds' grace while a busy page is made again.
    transaction.on_commit(partial(bump_generation, hard=True), using=using)


def article_saved(sender, instance, created, using=None, **kwargs):
    # A story that is not live after the save, and may have been before (unpublished, moved back to a
    # future time), is taken down; one that was a draft or new, or is live, only changed.
    hidden_before = created or getattr(instance, "_loaded_status", None) == Article.Status.DRAFT
    if instance.is_live or hidden_before:
        content_changed(sender, using=using)
    else:
        content_removed(sender, using=using)


def sections_changed(sender, using=None, **kwargs):
    # The header's navigation is kept across content generations (articles/context_processors.py).
    transaction.on_commit(partial(forget, NAV_SECTIONS), using=using)


def bylines_changed(sender, action, using=None, **kwargs):
    if action == "post_add":
        content_changed(sender, using=using)
    elif action in ("post_remove", "post_clear"):
        content_removed(sender, using=using)


def connect():
    for model in PUBLIC_MODELS:
        uid = f"pagecache-{model._meta.label_lower}"
        saved = article_saved if model is Article else content_changed
        post_save.connect(saved, sender=model, dispatch_uid=f"{uid}-save")
        post_delete.connect(content_removed, sender=model, dispatch_uid=f"{uid}-delete")
    post_save.connect(sections_changed, sender=Section, dispatch_uid="pagecache-navigation-save")
    post_delete.connect(sections_changed, sender=Section, dispatch_uid="pagecache-navigation-delete")
    m2m_changed.connect(bylines_changed, sender=Article.authors.through, dispatch_uid="pagecache-bylines")
