"""Every change that can alter a public page purges the pages that show it (articles/cachekeys.py).

The purge waits for the commit (``purge_on_commit``): purged earlier, a visitor could cache the old page
again before the change is visible. Here each model signal is told apart into the kinds of change of
``cachekeys.CHANGES``; which keys each kind touches is said there, and only there.
"""

from functools import partial

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete

from articles import images
from articles.cachekeys import purge_on_commit
from articles.models import (
    Article,
    Author,
    Correction,
    Embed,
    Image,
    LiveEntry,
    Section,
    Tag,
    TaggedArticle,
    TagRedirect,
)

# What the admin shows of a story, compared before and after a save (Article keeps the loaded row).
WATCHED_FIELDS = ("title", "standfirst", "body", "slug", "hero_id", "section_id", "published_at")
WATCHED_FIELDS += ("is_featured", "revised_at", "status", "seo_title", "seo_description", "coverage")


# What says when, and in which listings, a scheduled story will show.
SCHEDULING_FIELDS = {"status", "published_at", "section_id"}


def _values(source):
    return {name: source(name) for name in WATCHED_FIELDS}


def article_saved(sender, instance, created, using=None, **kwargs):
    loaded = getattr(instance, "_loaded_row", None) or {}
    before = _values(loaded.get)
    after = _values(partial(getattr, instance))
    if instance.was_live and instance.is_live:
        change = "story corrected"
    elif instance.is_live:
        change = "story published"
    elif instance.was_live:
        change = "story taken down"
    elif SCHEDULING_FIELDS & {name for name in WATCHED_FIELDS if before[name] != after[name]} and (
        Article.Status.PUBLISHED in (before["status"], after["status"])
    ):
        change = "story scheduled"  # or moved to another time or section, or back to draft before its time
    else:
        return  # a draft's edit, or a scheduled story's words, show on no page yet
    purge_on_commit(change, instance, before, after, using=using)
    # The loaded row is now this one: a second save in the same request compares with it.
    instance._loaded_row = after


def article_deleting(sender, instance, using=None, **kwargs):
    # Before the delete: its tags and bylines are still there to say which listings it was on.
    if instance.was_live:
        before = _values((getattr(instance, "_loaded_row", None) or {}).get)
        purge_on_commit("story taken down", instance, before, None, using=using)


def bylines_changed(sender, instance, action, reverse, pk_set, using=None, **kwargs):
    if action not in ("post_add", "post_remove", "pre_clear"):
        return
    change = "byline added" if action == "post_add" else "byline removed"
    # A scheduled story's bylines decide author listings it will enter: purged softly, like its tags.
    if reverse:  # from the author's side: instance is the author, pk_set the stories
        articles = instance.articles.all() if action == "pre_clear" else Article.objects.filter(pk__in=pk_set)
        for article in articles.filter(status=Article.Status.PUBLISHED):
            purge_on_commit(
                change if article.is_live else "scheduled story's byline", article, [instance.pk], using=using
            )
    elif instance.status == Article.Status.PUBLISHED:
        change = change if instance.is_live else "scheduled story's byline"
        author_ids = [a.pk for a in instance.authors.all()] if action == "pre_clear" else pk_set
        purge_on_commit(change, instance, list(author_ids), using=using)


def _live(article_pk):
    return Article.objects.filter(pk=article_pk).published().exists()


def _tagging_change(article_pk, removed):
    """Live: its pages change now (a removal takes something away). Scheduled: the listings it will
    enter are purged so that none is kept past its time; it shows nowhere yet, so softly."""
    article = (
        Article.objects.filter(pk=article_pk, status=Article.Status.PUBLISHED).only("published_at").first()
    )
    if article is None:
        return None
    if not article.is_live:
        return "scheduled story tagged"
    return "tag removed" if removed else "tag added"


def tagging_saved(sender, instance, using=None, **kwargs):
    if change := _tagging_change(instance.content_object_id, removed=False):
        purge_on_commit(change, instance.content_object_id, instance.tag_id, using=using)


def tagging_deleted(sender, instance, using=None, **kwargs):
    if change := _tagging_change(instance.content_object_id, removed=True):
        purge_on_commit(change, instance.content_object_id, instance.tag_id, using=using)


def correction_saved(sender, instance, using=None, **kwargs):
    if _live(instance.article_id):
        purge_on_commit("correction noted", instance.article_id, using=using)


def correction_deleted(sender, instance, using=None, **kwargs):
    if _live(instance.article_id):
        purge_on_commit("correction deleted", instance.article_id, using=using)


def live_entry_saved(sender, instance, using=None, **kwargs):
    if _live(instance.article_id):
        purge_on_commit("live update posted", instance.article_id, using=using)


def live_entry_deleted(sender, instance, using=None, **kwargs):
    if _live(instance.article_id):
        purge_on_commit("live update deleted", instance.article_id, using=using)


def _by_pk(change):
    def receiver(sender, instance, using=None, **kwargs):
        purge_on_commit(change, instance.pk, using=using)

    return receiver


def tag_redirect_saved(sender, instance, using=None, **kwargs):
    purge_on_commit("tag redirected", instance.tag_id, using=using)


def picture_saved(sender, instance, using=None, **kwargs):
    stories = list(instance.used_in().values_list("pk", flat=True))
    if stories:
        purge_on_commit("picture changed", stories, using=using)


def picture_deleting(sender, instance, using=None, **kwargs):
    # Before the delete: the hero's link is set to NULL by it, with no signal.
    stories = list(instance.used_in().values_list("pk", flat=True))
    if stories:
        purge_on_commit("picture deleted", stories, using=using)


def picture_deleted(sender, instance, using=None, **kwargs):
    # Its renditions are named by no row once the delete commits. The original upload stays, as every
    # replaced original does: the site never deletes what an editor uploaded.
    delete = partial(images.delete_renditions, instance.renditions, instance.file.storage)
    transaction.on_commit(delete, using=using, robust=True)


def embed_saved(sender, instance, using=None, **kwargs):
    stories = list(instance.shown_in.values_list("pk", flat=True))
    stories += instance.live_shown_in.values_list("article_id", flat=True).distinct()
    if stories:
        purge_on_commit("embed fetched", stories, using=using)


RECEIVERS = [
    (post_save, Article, article_saved),
    (pre_delete, Article, article_deleting),
    (post_save, TaggedArticle, tagging_saved),
    (post_delete, TaggedArticle, tagging_deleted),
    (post_save, Correction, correction_saved),
    (post_delete, Correction, correction_deleted),
    (post_save, LiveEntry, live_entry_saved),
    (post_delete, LiveEntry, live_entry_deleted),
    (post_save, Section, _by_pk("section changed")),
    (post_delete, Section, _by_pk("section deleted")),
    (post_save, Author, _by_pk("author changed")),
    (post_delete, Author, _by_pk("author deleted")),
    (post_save, Tag, _by_pk("tag changed")),
    (post_delete, Tag, _by_pk("tag deleted")),
    (post_save, TagRedirect, tag_redirect_saved),
    (post_delete, TagRedirect, tag_redirect_saved),
    (post_save, Image, picture_saved),
    (pre_delete, Image, picture_deleting),
    (post_delete, Image, picture_deleted),
    (post_save, Embed, embed_saved),
    (m2m_changed, Article.authors.through, bylines_changed),
]


def connect():
    for number, (signal, sender, receiver) in enumerate(RECEIVERS):
        signal.connect(receiver, sender=sender, weak=False, dispatch_uid=f"pagecache-purge-{number}")
