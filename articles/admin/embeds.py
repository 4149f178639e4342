"""Embeds in the admin: which provider links became facades, which failed and why, and a way to fetch
them again without the command line.

Embeds come from story bodies (a provider URL alone on its line), so nobody adds or deletes one here;
what they show is the provider's, so nobody edits it either. Editors may fetch selected ones again.
"""

from django.contrib import admin, messages
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import Truncator

from articles.embeds.models import MAX_FETCHES_PER_SAVE, Embed


@admin.register(Embed)
class EmbedAdmin(admin.ModelAdmin):
    # Narrow enough for the admin's sidebar at 1280 px: the URL, author and dates are on each embed's page.
    list_display = ["name", "provider", "state", "error", "story_count"]
    list_display_links = ["name"]
    list_filter = ["status", "provider", "kind"]
    search_fields = ["url", "title", "author_name"]
    list_per_page = 50
    actions = ["fetch_again"]
    fields = [
        "link",
        ("provider", "kind"),
        ("status", "fetched_at"),
        "error",
        "title",
        ("author_name", "author_url"),
        "published",
        "text",
        "stories",
    ]
    readonly_fields = [name for row in fields for name in (row if isinstance(row, tuple) else [row])]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(story_total=Count("shown_in"))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # Every field is read-only: a Save button would only suggest otherwise.
        extra_context = {**(extra_context or {}), "show_save": False, "show_save_and_continue": False}
        return super().changeform_view(request, object_id, form_url, extra_context)

    @admin.display(description="Embed", ordering="title")
    def name(self, embed):
        return Truncator(embed.title or embed.url).chars(36)

    @admin.display(description="Status", ordering="status")
    def state(self, embed):
        return "Fetched" if embed.is_ok else "Failed"

    @admin.display(description="URL", ordering="url")
    def link(self, embed):
        return format_html('<a href="{0}" rel="noopener noreferrer">{0}</a>', embed.url)

    @admin.display(description="Stories", ordering="story_total")
    def story_count(self, embed):
        return embed.story_total

    @admin.display(description="Shown in")
    def stories(self, embed):
        shown_in = embed.shown_in.order_by("-updated_at").only("pk", "title")
        if not shown_in:
            return "No story shows it now."
        # One link a line: the admin's read-only field box indents a list oddly.
        return format_html_join(
            mark_safe("<br>"),
            '<a href="{}">{}</a>',
            ((reverse("admin:articles_article_change", args=[a.pk]), a.title) for a in shown_in),
        )

    @admin.action(description="Fetch the selected embeds again", permissions=["change"])
    def fetch_again(self, request, queryset):
        # Each fetch may take seconds: a bounded batch per click, as a story save has.
        chosen = list(queryset.order_by("pk")[: MAX_FETCHES_PER_SAVE + 1])
        if len(chosen) > MAX_FETCHES_PER_SAVE:
            self.message_user(
                request,
                f"At most {MAX_FETCHES_PER_SAVE} embeds at a time: select fewer, or run "
                "manage.py refresh_embeds. Nothing was fetched.",
                messages.ERROR,
            )
            return
        for embed in chosen:
            embed.refresh_everywhere()
        troubled = [embed for embed in chosen if embed.error]
        self.message_user(request, f"{len(chosen) - len(troubled)} fetched.", messages.SUCCESS)
        for embed in troubled:
            # A failed fetch keeps what a good one stored: the facade stays, only a failed embed is a link.
            shown = "still a facade from the last good fetch" if embed.is_ok else "still shown as a link"
            self.message_user(
                request, f"Could not fetch {embed.url}: {embed.error} ({shown})", messages.WARNING
            )
