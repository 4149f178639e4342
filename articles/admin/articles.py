"""Articles in the admin: writing, filing, publishing (editors only), previews and corrections."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html

from articles import audit, preview, rendering
from articles.admin.history import RevisionHistoryMixin
from articles.admin.live import LiveDeskMixin
from articles.admin.publishing import PublishingActionsMixin, can_publish
from articles.admin.widgets import CheckedAutocompleteMixin
from articles.embeds.models import embeds_for, lone_urls
from articles.forms import ArticleAdminForm
from articles.links import absolute
from articles.models import Article, Correction, Revision


class CorrectionInline(admin.StackedInline):
    model = Correction
    extra = 0
    fields = ["kind", "noted_at", "note"]
    verbose_name = "correction or update note"
    verbose_name_plural = "Corrections and updates (shown to readers, newest first)"


@admin.register(Article)
class ArticleAdmin(
    PublishingActionsMixin, RevisionHistoryMixin, LiveDeskMixin, CheckedAutocompleteMixin, admin.ModelAdmin
):
    form = ArticleAdminForm
    change_form_template = "admin/articles/article/change_form.html"
    list_display = [
        "thumbnail",
        "title",
        "status_label",
        "is_featured",
        "section",
        "published_at",
        "tag_list",
        "live_link",
    ]
    list_display_links = ["thumbnail", "title"]
    # Tags only of the stories this user may open: a tag typed into another writer's draft names its subject.
    list_filter = [
        "status",
        "is_featured",
        "coverage",
        "section",
        ("tags", admin.RelatedOnlyFieldListFilter),
        "published_at",
    ]
    list_select_related = ["section", "hero"]
    search_fields = ["title", "standfirst", "body"]
    date_hierarchy = "published_at"
    prepopulated_fields = {"slug": ["title"]}
    autocomplete_fields = ["authors", "section", "hero"]
    readonly_fields = ["hero_preview", "preview_link", "created_by", "created_at", "updated_by", "updated_at"]
    # Writers draft; only those allowed to publish may touch what decides whether and when readers see it.
    publishing_fields = ["status", "published_at", "is_featured", "coverage"]
    actions = ["publish", "unpublish"]
    inlines = [CorrectionInline]
    save_on_top = True
    fieldsets = [
        (None, {"fields": ["title", "slug", "standfirst", "body"]}),
        ("Hero image", {"fields": ["hero_preview", "hero"]}),
        ("Filing", {"fields": ["section", "authors", "tags"]}),
        (
            "Publishing",
            {
                "fields": [
                    "status",
                    "published_at",
                    "is_featured",
                    "coverage",
                    "preview_link",
                    ("created_by", "created_at"),
                    ("updated_by", "updated_at"),
                ]
            },
        ),
        ("Search and social", {"classes": ["collapse"], "fields": ["seo_title", "seo_description"]}),
    ]

    class Media:
        css = {"all": ["css/admin-article.css"]}
        js = ["js/admin-markdown-preview.js", "js/admin-image-picker.js"]

    def get_queryset(self, request):
        # A writer never lists, opens or compares another writer's draft: every admin page of an article
        # (change form, history, revisions) finds it through here.
        return super().get_queryset(request).open_to(request.user).prefetch_related("tags")

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets
        # The preview link opens the story to anyone for days: only for those who may change it.
        return [
            (name, {**options, "fields": [field for field in options["fields"] if field != "preview_link"]})
            for name, options in fieldsets
        ]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not can_publish(request.user):
            fields += self.publishing_fields
        return fields

    def has_change_permission(self, request, obj=None):
        if not super().has_change_permission(request, obj):
            return False
        if obj is None or can_publish(request.user):
            return True
        # A writer edits their own drafts; anything live or scheduled belongs to the editors.
        return obj.status == Article.Status.DRAFT and obj.created_by_id == request.user.pk

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # The admin saves inside one transaction; a provider's answer can take seconds, and no
        # transaction should stay open that long: the body's new embeds are fetched and stored first,
        # so the save inside finds them (articles/embeds/models.py).
        may_write = self.has_add_permission(request) or self.has_change_permission(request)
        if request.method == "POST" and may_write:
            body = request.POST.get("body", "")
            if body and len(body) <= rendering.MAX_BODY_CHARS:
                embeds_for(lone_urls(body))
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        if not can_publish(request.user) and obj.status != Article.Status.DRAFT:
            raise PermissionDenied("Only editors can publish or schedule articles.")
        if not change:
            obj.created_by = request.user
        obj.updated_by = request.user
        status_before = getattr(obj, "_loaded_status", None)
        super().save_model(request, obj, form, change)
        if action := audit.status_action(status_before, obj):
            audit.record(action, obj, request.user)

    def delete_model(self, request, obj):
        audit.record(audit.DELETE, obj, request.user)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        # The bulk action deletes in one statement: each story is named in the log first.
        for article in queryset:
            audit.record(audit.DELETE, article, request.user)
        super().delete_queryset(request, queryset)

    def save_formset(self, request, form, formset, change):
        for correction in formset.save(commit=False):
            correction.created_by_id = correction.created_by_id or request.user.pk
            correction.save()
        for correction in formset.deleted_objects:
            correction.delete()

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # After the tags and authors are saved, so the revision holds them too.
        Revision.record(form.instance, request.user)

    def response_change(self, request, obj):
        if "_preview" in request.POST:
            # Staff see drafts and scheduled stories on the public page, under a preview banner.
            return redirect(obj.get_absolute_url())
        return super().response_change(request, obj)

    def get_urls(self):
        preview_url = path(
            "preview-markdown/",
            self.admin_site.admin_view(self.markdown_preview_view),
            name="articles_article_markdown_preview",
        )
        return [preview_url, *super().get_urls()]

    @admin.display(description="Image")
    def thumbnail(self, article):
        if not article.hero_thumbnail_url:
            return "—"
        return format_html(
            '<img class="article-thumbnail" src="{}" alt="" width="80" height="45" loading="lazy">',
            article.hero_thumbnail_url,
        )

    @admin.display(description="Current hero image")
    def hero_preview(self, article):
        if not article.hero_thumbnail_url:
            return "No image yet: choose one from the library below, or add one with +."
        return format_html(
            '<img class="hero-preview" src="{}" alt="{}" width="320">',
            article.hero_thumbnail_url,
            article.hero.alt,
        )

    @admin.display(description="Preview link")
    def preview_link(self, article):
        if not article.pk:
            return "Save the article to get a preview link."
        if article.is_live:
            return format_html('Live at <a href="{0}">{0}</a>', absolute(article.get_absolute_url()))
        expiry = timezone.localtime(timezone.now() + preview.PREVIEW_LINK_LIFETIME)
        return format_html(
            '<input type="text" readonly class="vLargeTextField preview-link" value="{}" '
            'aria-label="Preview link to send"><div class="help">Anyone with this link can read the '
            "article as it is when they open it, without an account, until {}.</div>",
            preview.preview_url(article),
            f"{expiry:%d %b %Y %H:%M}",
        )

    @admin.display(description="Status", ordering="status")
    def status_label(self, article):
        if article.status == Article.Status.PUBLISHED and not article.is_live:
            return f"Scheduled for {timezone.localtime(article.published_at):%d %b %Y %H:%M}"
        return article.get_status_display()

    @admin.display(description="Tags")
    def tag_list(self, article):
        return ", ".join(tag.name for tag in article.tags.all())

    def markdown_preview_view(self, request):
        """The body as readers will see it, rendered by the same pipeline as on save."""
        if request.method != "POST":
            return JsonResponse({"error": "Send the body with POST."}, status=405)
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            raise PermissionDenied
        body = request.POST.get("body", "")
        if len(body) > rendering.MAX_BODY_CHARS:
            return JsonResponse({"error": "The body is too long to preview."}, status=400)
        try:
            html = Article(body=body).rendered_body_html()
        except rendering.RenderError as exc:
            return JsonResponse({"error": str(exc)}, status=400)
        return JsonResponse({"html": html})
