"""The newsroom's lists in the admin: authors, sections and tags (with merging)."""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.template.response import TemplateResponse

from articles import tag_governance
from articles.forms import AuthorAdminForm
from articles.models import Article, Author, Section, Tag, TaggedArticle


@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin):
    form = AuthorAdminForm
    list_display = ["name", "slug", "user", "article_count"]
    list_select_related = ["user"]
    search_fields = ["name", "bio"]
    prepopulated_fields = {"slug": ["name"]}
    raw_id_fields = ["user"]
    # Explicit: Meta.ordering does not apply to the counted (GROUP BY) queryset below, and the
    # autocomplete's paginator then warns (an error under the tests) that the pages may overlap.
    ordering = ["name"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(article_count=Count("articles"))

    @admin.display(description="Articles", ordering="article_count")
    def article_count(self, author):
        return author.article_count


@admin.register(Section)
class SectionAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "position"]
    list_editable = ["position"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}


class TaggedArticleInline(admin.TabularInline):
    model = TaggedArticle
    raw_id_fields = ["content_object"]
    extra = 0


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "article_count", "follower_count", "is_public"]
    search_fields = ["name"]
    fields = ["name", "slug", "description", "show_early", "old_addresses"]
    readonly_fields = ["old_addresses"]
    inlines = [TaggedArticleInline]
    actions = ["merge_tags"]

    def get_prepopulated_fields(self, request, obj=None):
        # Only for a new tag: renaming a saved one keeps its address. Changing the slug by hand is
        # allowed, and leaves a redirect from the old address (Tag.save).
        return {"slug": ["name"]} if obj is None else {}

    ordering = ["name"]  # as AuthorAdmin: the counted queryset loses Meta.ordering

    def get_queryset(self, request):
        tags = super().get_queryset(request)
        if not request.user.has_perm("articles.publish_article"):
            # A tag typed into another writer's draft names what the draft is about (an embargoed
            # launch, say): others see the topics of the stories they may open, and the opened ones.
            on_open_story = TaggedArticle.objects.filter(
                tag=OuterRef("pk"), content_object__in=Article.objects.open_to(request.user)
            )
            tags = tags.filter(Q(show_early=True) | Exists(on_open_story))
        return tags.annotate(
            article_count=Count("tagged_articles", distinct=True),
            follower_count=Count(
                "follows", distinct=True, filter=Q(follows__subscriber__confirmed_at__isnull=False)
            ),
            is_public=Exists(Tag.objects.public().filter(pk=OuterRef("pk"))),
        )

    @admin.display(description="Page on the site", boolean=True, ordering="is_public")
    def is_public(self, tag):
        return tag.is_public

    @admin.display(description="Articles", ordering="article_count")
    def article_count(self, tag):
        return tag.article_count

    @admin.display(description="Confirmed followers", ordering="follower_count")
    def follower_count(self, tag):
        return tag.follower_count

    @admin.display(description="Old addresses redirected here")
    def old_addresses(self, tag):
        slugs = list(tag.redirects.values_list("old_slug", flat=True)) if tag.pk else []
        return ", ".join(f"/tags/{slug}/" for slug in slugs) or "None"

    def has_merge_permission(self, request):
        # A merge changes the kept tag and deletes the others.
        return self.has_change_permission(request) and self.has_delete_permission(request)

    @admin.action(description="Merge selected tags…", permissions=["merge"])
    def merge_tags(self, request, queryset):
        """Ask which tag to keep (most articles first), then fold the others into it."""
        tags = list(queryset.order_by("-article_count", "-follower_count", "name"))
        if len(tags) < 2:
            self.message_user(request, "Select at least two tags to merge.", messages.ERROR)
            return None
        keep = next((tag for tag in tags if str(tag.pk) == request.POST.get("keep")), None)
        if "apply" in request.POST and keep is not None:
            others = [tag for tag in tags if tag.pk != keep.pk]
            try:
                with transaction.atomic():
                    self.log_deletions(request, Tag.objects.filter(pk__in=[tag.pk for tag in others]))
                    summary = tag_governance.merge_tags(keep, others)
            except tag_governance.MergeError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return None
            self.log_change(request, summary.kept, summary.describe())
            self.message_user(request, summary.describe(), messages.SUCCESS)
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Merge tags",
            "opts": self.opts,
            "tags": tags,
            "keep": keep or tags[0],
            "keep_missing": "apply" in request.POST,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/articles/tag/merge_tags.html", context)
