"""Tag governance: merging duplicate tags, and finding a tag by an address it used to answer at.

A merge never breaks a link. Every old address gets a permanent redirect to the kept tag, and redirects
that pointed at a merged tag are repointed, so an address redirects in one hop however many merges
and renames it has been through (a TagRedirect names a tag, not a slug). A tag later created at an old
address takes it over: Tag.save drops the redirect.
"""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Min
from django.http import Http404, HttpResponsePermanentRedirect
from django.urls import reverse

from articles.models import Follow, FollowRequest, Tag, TaggedArticle, TagRedirect


class MergeError(ValueError):
    """The merge cannot go ahead as asked; nothing was changed."""


@dataclass(frozen=True)
class MergeSummary:
    kept: Tag
    merged_names: list[str]
    old_slugs: list[str]
    articles_moved: int  # articles that gained the kept tag
    follows_moved: int  # subscribers who now follow the kept tag
    # Taggings and follows not moved because the article or reader already had the kept tag (or had
    # several of the merged ones): deleted with the merged tags.
    duplicates_dropped: int

    def describe(self):
        """One sentence for the editor: what was merged, what moved, and which addresses now redirect."""
        names = _join([f"“{name}”" for name in self.merged_names])
        old = _join([reverse("articles:tag", kwargs={"slug": slug}) for slug in self.old_slugs])
        redirect = "redirects" if len(self.old_slugs) == 1 else "redirect"
        return (
            f"Merged {names} into “{self.kept.name}”: {_count(self.articles_moved, 'article')} and "
            f"{_count(self.follows_moved, 'follow')} moved, {_count(self.duplicates_dropped, 'duplicate')} "
            f"dropped. {old} now {redirect} to {self.kept.get_absolute_url()}."
        )


def _count(number, noun):
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _join(items):
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def merge_tags(keep, others):
    """Fold ``others`` into ``keep``, all or nothing, and return what happened.

    Rows are moved with one UPDATE per table (at most one row per article or subscriber, and only where
    the kept tag has none yet: the unique constraints hold throughout), whatever the number of articles.
    """
    other_ids = {tag.pk for tag in others} - {keep.pk}
    if not other_ids:
        raise MergeError("Choose at least one tag to merge into the kept one.")
    with transaction.atomic():
        # Lock the tags involved, so two editors merging overlapping tags at once take turns, and
        # nobody follows or tags a tag while it is being merged away (PostgreSQL; SQLite serialises writes).
        locked = list(Tag.objects.select_for_update().filter(pk__in=[keep.pk, *other_ids]).order_by("pk"))
        keep = next((tag for tag in locked if tag.pk == keep.pk), None)
        if keep is None:
            raise MergeError("The tag to keep no longer exists.")
        merged = sorted((tag for tag in locked if tag.pk != keep.pk), key=lambda tag: tag.name)
        if not merged:
            raise MergeError("The tags to merge no longer exist.")
        merged_ids = [tag.pk for tag in merged]

        articles_moved, article_duplicates = _move(TaggedArticle, "content_object_id", keep, merged_ids)
        follows_moved, follow_duplicates = _move(Follow, "subscriber_id", keep, merged_ids)
        # A pending request's link confirms the tag its tag became (no constraint: one UPDATE).
        FollowRequest.objects.filter(tag_id__in=merged_ids).update(tag=keep)
        # Addresses that already redirected to a merged tag now go straight to the kept one.
        TagRedirect.objects.filter(tag_id__in=merged_ids).update(tag=keep)

        old_slugs = [tag.slug for tag in merged]
        Tag.objects.filter(pk__in=merged_ids).delete()  # with the taggings and follows left behind
        TagRedirect.objects.filter(old_slug__in=old_slugs).delete()  # none expected: Tag.save removes them
        TagRedirect.objects.bulk_create(TagRedirect(old_slug=slug, tag=keep) for slug in old_slugs)

    return MergeSummary(
        kept=keep,
        merged_names=[tag.name for tag in merged],
        old_slugs=old_slugs,
        articles_moved=articles_moved,
        follows_moved=follows_moved,
        duplicates_dropped=article_duplicates + follow_duplicates,
    )


def _move(model, owner, keep, merged_ids):
    """Repoint one row per owner (article or subscriber) from the merged tags to ``keep``.

    Owners that already have the kept tag, and second rows of owners that had several merged tags, are
    left behind to be deleted with the merged tags. Returns (moved, left behind).
    """
    rows = model.objects.filter(tag_id__in=merged_ids)
    total = rows.count()
    already_kept = model.objects.filter(tag=keep).values(owner)
    first_per_owner = (
        rows.exclude(**{f"{owner}__in": already_kept}).values(owner).annotate(first=Min("pk")).values("first")
    )
    moved = model.objects.filter(pk__in=first_per_owner).update(tag=keep)
    return moved, total - moved


def resolve_tag_slug(slug):
    """(tag, redirected): the public tag at this address, else the public tag it now redirects to; else 404.

    Every public address of a tag (its page, feeds and follow form) finds it here, so a tag that is not
    public yet (Tag.objects.public) answers 404 at all of them, as if it did not exist.
    A live tag costs one query, as before redirects existed; only an address with no tag asks for a redirect.
    """
    tag = Tag.objects.public().filter(slug=slug).first()
    if tag is not None:
        return tag, False
    redirect = (
        TagRedirect.objects.select_related("tag").filter(old_slug=slug, tag__in=Tag.objects.public()).first()
    )
    if redirect is None:
        raise Http404("No tag answers at this address.")
    return redirect.tag, True


def moved_permanently(request, url):
    """A 301 to ``url`` that keeps the request's query string (?page=2 stays on page 2)."""
    query = request.GET.urlencode()
    return HttpResponsePermanentRedirect(f"{url}?{query}" if query else url)
