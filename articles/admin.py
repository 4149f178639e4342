import csv
import datetime
import difflib
import itertools

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html
from taggit.models import Tag as TaggitTag

from articles import audit, preview, rendering
from articles import tags as tag_governance
from articles.following.subscriptions import forget
from articles.forms import ArticleAdminForm, AuthorAdminForm
from articles.links import absolute
from articles.models import (
    Article,
    Author,
    Correction,
    Follow,
    Revision,
    Section,
    Subscriber,
    Tag,
    TaggedArticle,
)

# We use our own Tag model; taggit's stock one would only confuse editors.
if admin.site.is_registered(TaggitTag):
    admin.site.unregister(TaggitTag)


MINUTE = datetime.timedelta(minutes=1)


class KnownIdsOnly:
    """For the admin's autocomplete widgets: submitted values that cannot be ids are left out when the
    form is shown again. Django looks them up as they are, and a forged one ("abc") raised ValueError,
    a 500, instead of letting the form say "Select a valid choice"."""

    def optgroups(self, name, value, attr=None):
        target = self.field.target_field
        return super().optgroups(name, [v for v in value if _is_valid_for(target, v)], attr)


def _is_valid_for(field, value):
    try:
        field.to_python(value)
    except ValidationError:
        return False
    return True


class CheckedAutocompleteSelect(KnownIdsOnly, AutocompleteSelect):
    pass


class CheckedAutocompleteSelectMultiple(KnownIdsOnly, AutocompleteSelectMultiple):
    pass


class CheckedAutocompleteMixin:
    """ModelAdmin and inline mixin: autocomplete_fields get the widgets above."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in self.get_autocomplete_fields(request):
            kwargs.setdefault(
                "widget", CheckedAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name in self.get_autocomplete_fields(request):
            kwargs.setdefault(
                "widget",
                CheckedAutocompleteSelectMultiple(db_field, self.admin_site, using=kwargs.get("using")),
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)


def login_locked_out(request, response, credentials):
    """django-axes' answer to a locked sign-in: the admin's own page (its header and themes), 429, and
    when to try again. The same answer for a right or a wrong password until the lock lifts."""
    cool_off = settings.AXES_COOLOFF_TIME
    context = {
        **admin.site.each_context(request),
        "is_nav_sidebar_enabled": False,  # as on the login page: the visitor is not signed in
        "title": "Too many failed sign-in attempts",
        "lock_minutes": cool_off // MINUTE,
    }
    # Rendered here: axes hands it back after the point where Django renders template responses.
    locked = TemplateResponse(request, "admin/locked_out.html", context, status=429).render()
    locked["Retry-After"] = str(int(cool_off.total_seconds()))
    return locked


def can_publish(user):
    return user.has_perm("articles.publish_article")


class CorrectionInline(admin.StackedInline):
    model = Correction
    extra = 0
    fields = ["kind", "noted_at", "note"]
    verbose_name = "correction or update note"
    verbose_name_plural = "Corrections and updates (shown to readers, newest first)"


@admin.register(Article)
class ArticleAdmin(CheckedAutocompleteMixin, admin.ModelAdmin):
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
    ]
    list_display_links = ["thumbnail", "title"]
    # Tags only of the stories this user may open: a tag typed into another writer's draft names its subject.
    list_filter = [
        "status",
        "is_featured",
        "section",
        ("tags", admin.RelatedOnlyFieldListFilter),
        "published_at",
    ]
    list_select_related = ["section"]
    search_fields = ["title", "standfirst", "body"]
    date_hierarchy = "published_at"
    prepopulated_fields = {"slug": ["title"]}
    autocomplete_fields = ["authors", "section"]
    readonly_fields = ["hero_preview", "preview_link", "created_by", "created_at", "updated_by", "updated_at"]
    # Writers draft; only those allowed to publish may touch what decides whether and when readers see it.
    publishing_fields = ["status", "published_at", "is_featured"]
    actions = ["publish", "unpublish"]
    inlines = [CorrectionInline]
    save_on_top = True
    fieldsets = [
        (None, {"fields": ["title", "slug", "standfirst", "body"]}),
        ("Hero image", {"fields": ["hero_preview", "hero_image", "hero_alt", "hero_caption", "hero_credit"]}),
        ("Filing", {"fields": ["section", "authors", "tags"]}),
        (
            "Publishing",
            {
                "fields": [
                    "status",
                    "published_at",
                    "is_featured",
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
        js = ["js/admin-markdown-preview.js"]

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

    def has_publish_permission(self, request):
        return can_publish(request.user)

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
        urls = [
            path(
                "preview-markdown/",
                self.admin_site.admin_view(self.markdown_preview_view),
                name="articles_article_markdown_preview",
            ),
            path(
                "<path:object_id>/revisions/",
                self.admin_site.admin_view(self.revisions_view),
                name="articles_article_revisions",
            ),
            path(
                "<path:object_id>/revisions/<int:revision_id>/",
                self.admin_site.admin_view(self.revision_view),
                name="articles_article_revision",
            ),
        ]
        return urls + super().get_urls()

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
            return "No image yet."
        return format_html(
            '<img class="hero-preview" src="{}" alt="{}" width="320">',
            article.hero_thumbnail_url,
            article.hero_alt,
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

    @admin.action(description="Publish selected articles", permissions=["publish"])
    def publish(self, request, queryset):
        published, refused = 0, []
        for article in queryset.exclude(status=Article.Status.PUBLISHED).prefetch_related("tags", "authors"):
            problems = article.publishing_problems()
            if problems:
                refused.append(format_html("“{}”: {}", article.title, " ".join(problems)))
                continue
            self._save_status(request, article, Article.Status.PUBLISHED)
            published += 1
        self.message_user(request, f"{published} article(s) published.", messages.SUCCESS)
        for refusal in refused:
            self.message_user(request, format_html("Not published, {}", refusal), messages.ERROR)

    @admin.action(description="Unpublish selected articles (back to draft)", permissions=["publish"])
    def unpublish(self, request, queryset):
        changed = 0
        for article in queryset.exclude(status=Article.Status.DRAFT):
            self._save_status(request, article, Article.Status.DRAFT)
            changed += 1
        self.message_user(request, f"{changed} article(s) moved back to draft.", messages.SUCCESS)

    def _save_status(self, request, article, status):
        status_before = article.status
        article.status = status
        article.updated_by = request.user
        # save(), not update(): it stamps published_at and keeps derived fields right.
        with transaction.atomic():
            article.save()
            Revision.record(article, request.user)
            audit.record(audit.status_action(status_before, article), article, request.user)
        self.log_change(request, article, f"Status set to {article.get_status_display()}.")

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
            html = rendering.render_body(body)
        except rendering.RenderError as exc:
            return JsonResponse({"error": str(exc)}, status=400)
        return JsonResponse({"html": html})

    def _article_for_history(self, request, object_id):
        article = self.get_object(request, object_id)
        if article is None:
            raise Http404("No such article.")
        may_view = self.has_view_or_change_permission(request, article)
        if not (may_view and request.user.has_perm("articles.view_revision")):
            raise PermissionDenied
        return article

    def revisions_view(self, request, object_id):
        article = self._article_for_history(request, object_id)
        revisions = list(article.revisions.select_related("created_by"))
        # An article saved outside the admin (imported in bulk, made by a script) may have no revision,
        # or have changed since its newest one.
        now = Revision.capture(article)
        names = snapshot_names([*revisions, now])
        since_newest = revision_changes(revisions[0], now, names) if revisions else []
        rows = [
            (revision, revision_changes(older, revision, names))
            for revision, older in itertools.pairwise([*revisions, None])
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "article": article,
            "rows": rows,
            "changed_since": not revisions or bool(since_newest),
            "since_newest": since_newest,
            "title": f"Revisions of “{article.title}”",
        }
        return TemplateResponse(request, "admin/articles/article/revisions.html", context)

    def revision_view(self, request, object_id, revision_id):
        article = self._article_for_history(request, object_id)
        revision = get_object_or_404(article.revisions, pk=revision_id)
        may_restore = self.has_change_permission(request, article)
        if request.method == "POST":
            if not may_restore:
                raise PermissionDenied
            done = f"Restored the revision of {timezone.localtime(revision.created_at):%d %b %Y %H:%M}."
            with transaction.atomic():
                revision.restore(request.user)
                self.log_change(request, article, done)
            self.message_user(request, done, messages.SUCCESS)
            return redirect("admin:articles_article_change", article.pk)
        # Against the article as it is, not its newest revision: it may have changed since without one.
        now = Revision.capture(article)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "article": article,
            "revision": revision,
            # What a restore would change, from now to restored: it never touches the publishing state.
            "changes": revision_changes(now, revision, snapshot_names([now, revision]), publishing=False),
            "may_restore": may_restore,
            "title": f"Revision of {timezone.localtime(revision.created_at):%d %b %Y %H:%M}",
        }
        return TemplateResponse(request, "admin/articles/article/revision.html", context)


# What a restore brings back beside the title and body (Revision.restore), in the change form's order,
# then the publishing state, which only the history shows.
RESTORED_FIELDS = [
    ("standfirst", "Standfirst"),
    ("hero_alt", "Hero alt text"),
    ("hero_caption", "Hero caption"),
    ("hero_credit", "Hero credit"),
    ("section_id", "Section"),
    ("author_ids", "Authors"),
    ("tags", "Tags"),
    ("seo_title", "SEO title"),
    ("seo_description", "SEO description"),
]
PUBLISHING_FIELDS = [("status", "Status"), ("published_at", "Published at")]


def revision_changes(older, newer, names, publishing=True):
    """[(field label, diff rows)] for what differs between two revisions; the body as a line diff.

    ``names`` names the sections and authors the snapshots hold by id (snapshot_names). Without
    ``publishing``, only what a restore brings back is compared.
    """
    if older is None:
        return [("Oldest revision kept", [])]
    changes = []
    if older.title != newer.title:
        changes.append(("Title", [("del", older.title), ("ins", newer.title)]))
    for name, label in RESTORED_FIELDS + (PUBLISHING_FIELDS if publishing else []):
        # Snapshots from before a field was kept have no value for it: nothing to compare.
        if name not in older.snapshot or name not in newer.snapshot:
            continue
        before, after = older.snapshot[name], newer.snapshot[name]
        if _comparable(name, before) != _comparable(name, after):
            shown = names.get(name)
            changes.append((label, [("del", _as_text(before, shown)), ("ins", _as_text(after, shown))]))
    if older.body != newer.body:
        changes.append(("Body", body_diff(older.body, newer.body)))
    return changes


def _comparable(name, value):
    # The same moment may be kept with another UTC offset (a form's time zone, then the database's).
    return datetime.datetime.fromisoformat(value) if name == "published_at" and value else value


def snapshot_names(revisions):
    """{"section_id": {id: name}, "author_ids": {id: name}} for every id these revisions hold: two queries."""
    section_ids = {revision.snapshot.get("section_id") for revision in revisions} - {None}
    author_ids = {pk for revision in revisions for pk in revision.snapshot.get("author_ids", [])}
    return {
        "section_id": dict(Section.objects.filter(pk__in=section_ids).values_list("pk", "name")),
        "author_ids": dict(Author.objects.filter(pk__in=author_ids).values_list("pk", "name")),
    }


def _as_text(value, names=None):
    """A snapshot value as the history shows it; with ``names``, ids by name ("(deleted)" once gone)."""
    values = value if isinstance(value, list) else [value]
    if names is not None:
        values = [names.get(item, "(deleted)") for item in values if item is not None]
    return ", ".join(str(item) for item in values if item not in (None, "")) or "(none)"


def body_diff(before, after):
    """Changed lines with three lines of context, as (kind, text) rows: kind is ins, del, ctx or gap."""
    rows = []
    for line in list(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=3))[2:]:
        if line.startswith("@@"):
            rows.append(("gap", "…"))
        elif line.startswith("+"):
            rows.append(("ins", line[1:]))
        elif line.startswith("-"):
            rows.append(("del", line[1:]))
        else:
            rows.append(("ctx", line[1:]))
    return rows


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


class FollowInline(CheckedAutocompleteMixin, admin.TabularInline):
    model = Follow
    autocomplete_fields = ["tag"]
    extra = 0


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ["email", "is_confirmed", "frequency", "followed_tags", "created_at"]
    list_filter = [("confirmed_at", admin.EmptyFieldListFilter), "frequency", "follows__tag"]
    search_fields = ["email", "follows__tag__name"]
    readonly_fields = ["created_at", "confirmed_at", "last_digest_at"]
    inlines = [FollowInline]
    actions = ["export_confirmed_csv"]
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("follows__tag")

    # Deleted on request, an address is forgotten as when its owner leaves: pending requests too.
    def delete_model(self, request, obj):
        forget(Subscriber.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        forget(queryset)

    @admin.display(description="Confirmed", boolean=True, ordering="confirmed_at")
    def is_confirmed(self, subscriber):
        return subscriber.is_confirmed

    @admin.display(description="Follows")
    def followed_tags(self, subscriber):
        return ", ".join(sorted(follow.tag.name for follow in subscriber.follows.all()))

    @admin.action(description="Export the confirmed among the selected as CSV", permissions=["view"])
    def export_confirmed_csv(self, request, queryset):
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="confirmed-subscribers.csv"'
        writer = csv.writer(response)
        writer.writerow(["email", "frequency", "confirmed_at", "tags"])
        confirmed = (
            queryset.filter(confirmed_at__isnull=False).prefetch_related("follows__tag").order_by("email")
        )
        for subscriber in confirmed.iterator(chunk_size=500):
            tags = "; ".join(sorted(follow.tag.name for follow in subscriber.follows.all()))
            # A leading =, +, - or @ would run as a formula in a spreadsheet (CSV injection).
            row = [subscriber.email, subscriber.frequency, subscriber.confirmed_at.isoformat(), tags]
            writer.writerow(["'" + cell if cell[:1] in "=+-@" else cell for cell in row])
        return response
