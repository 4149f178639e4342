"""Live coverage in the admin: the live desk of a story (one box and a button to post an update, the
coverage's state, the updates with their key-point pins) and the list of updates, to change or delete one.

Editors start and end coverage and post to any live story; writers post to the live stories whose byline
they are on, and change their own updates (articles/live.py says who may do what).
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from articles import live, rendering
from articles.admin.publishing import can_publish
from articles.models import Article, LiveEntry

# The updates the desk lists under the box: the rest are in the list of updates.
DESK_ENTRIES = 50


class LiveEntryForm(forms.ModelForm):
    class Meta:
        model = LiveEntry
        fields = ["body", "is_key_point"]
        widgets = {"body": forms.Textarea(attrs={"rows": 4, "class": "vLargeTextField live-desk__body"})}
        labels = {"body": "New update"}


class LiveDeskMixin:
    """ArticleAdmin's live desk, at <id>/live/."""

    def get_urls(self):
        desk = path(
            "<path:object_id>/live/",
            self.admin_site.admin_view(self.live_desk_view),
            name="articles_article_live",
        )
        return [desk, *super().get_urls()]

    def live_desk_view(self, request, object_id):
        article = self.get_object(request, object_id)
        if article is None:
            raise Http404("No such article.")
        if not request.user.has_perm("articles.view_liveentry"):
            raise PermissionDenied
        form = LiveEntryForm()
        if request.method == "POST":
            action = request.POST.get("action")
            if action == "post":
                form = LiveEntryForm(request.POST)
                if not live.may_post(request.user, article):
                    raise PermissionDenied
                if form.is_valid():
                    return self._post_update(request, article, form)
            elif action in ("start", "end"):
                return self._set_coverage(request, article, action)
            elif action == "pin":
                return self._pin(request, article)
            else:
                return redirect("admin:articles_article_live", article.pk)
        entries = list(article.live_entries.select_related("author", "created_by")[:DESK_ENTRIES])
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "article": article,
            "form": form,
            "entries": [(entry, live.may_change(request.user, entry)) for entry in entries],
            "entry_total": article.live_entries.count(),
            "may_post": live.may_post(request.user, article),
            "may_run_coverage": can_publish(request.user),
            "title": f"Live desk: {article.title}",
        }
        return TemplateResponse(request, "admin/articles/article/live_desk.html", context)

    def _post_update(self, request, article, form):
        try:
            entry = live.post(
                article, request.user, form.cleaned_data["body"], form.cleaned_data["is_key_point"]
            )
        except (rendering.RenderError, forms.ValidationError) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
            return redirect("admin:articles_article_live", article.pk)
        when = timezone.localtime(entry.posted_at)
        shown = "" if article.is_live else " It shows when the story is published."
        messages.success(request, f"Posted at {when:%H:%M}.{shown}")
        return redirect("admin:articles_article_live", article.pk)

    def _set_coverage(self, request, article, action):
        if not can_publish(request.user):
            raise PermissionDenied("Only editors start and end live coverage.")
        article.coverage = Article.Coverage.LIVE if action == "start" else Article.Coverage.ENDED
        article.updated_by = request.user
        article.save()
        self.log_change(request, article, "Live coverage " + ("started" if action == "start" else "ended"))
        messages.success(
            request, "The story is live: post updates below." if action == "start" else "Coverage ended."
        )
        return redirect("admin:articles_article_live", article.pk)

    def _pin(self, request, article):
        number = request.POST.get("entry", "")
        entry = get_object_or_404(article.live_entries, pk=int(number) if number.isdigit() else 0)
        if not live.may_change(request.user, entry):
            raise PermissionDenied
        entry.is_key_point = not entry.is_key_point
        entry.save()
        done = "Pinned as a key point." if entry.is_key_point else "No longer a key point."
        messages.success(request, done)
        return redirect("admin:articles_article_live", article.pk)

    @admin.display(description="Live")
    def live_link(self, article):
        if not article.coverage:
            return ""
        label = "Live desk" if article.is_live_coverage else "Ended"
        desk = reverse("admin:articles_article_live", args=[article.pk])
        return format_html('<a href="{}">{}</a>', desk, label)


@admin.register(LiveEntry)
class LiveEntryAdmin(admin.ModelAdmin):
    """Every update, to find, change or delete one; new ones are posted from a story's live desk."""

    list_display = ["headline", "article", "posted_at", "is_key_point", "author"]
    list_filter = ["is_key_point"]
    list_select_related = ["article", "author"]
    search_fields = ["body", "article__title"]
    date_hierarchy = "posted_at"
    fields = ["article", "body", "is_key_point", "author", "posted_at"]
    readonly_fields = ["article"]
    autocomplete_fields = ["author"]

    def get_queryset(self, request):
        return live.entries_open_to(request.user)

    def has_add_permission(self, request):
        return False  # from the live desk, which knows the story

    def has_change_permission(self, request, obj=None):
        if obj is None:
            return super().has_change_permission(request)
        return live.may_change(request.user, obj)

    def has_delete_permission(self, request, obj=None):
        if not request.user.has_perm("articles.delete_liveentry"):
            return False
        return obj is None or can_publish(request.user) or obj.created_by_id == request.user.pk

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        live.mark_story_updated(obj)
