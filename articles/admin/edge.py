"""Edge purges the edge cache has not confirmed yet (articles/edge.py): what, since when, why it failed,
and a way to try them again now. Editors see them; nobody adds or edits one."""

from django.contrib import admin, messages
from django.utils.text import Truncator

from articles.edge import EdgePurge, retry_kept


@admin.register(EdgePurge)
class EdgePurgeAdmin(admin.ModelAdmin):
    list_display = ["short_keys", "attempts", "last_error", "created_at", "next_attempt_at"]
    list_per_page = 50
    actions = ["try_again"]
    readonly_fields = ["keys", "created_at", "attempts", "next_attempt_at", "last_error"]

    @admin.display(description="keys")
    def short_keys(self, purge):
        return Truncator(purge.keys).chars(60)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Try the kept purges again now", permissions=["view"])
    def try_again(self, request, queryset):
        landed, kept = retry_kept(due_only=False)
        if kept:
            messages.warning(request, f"{landed} purge(s) landed; {kept} still kept: the edge refused them.")
        else:
            messages.success(request, f"{landed} purge(s) landed; none is kept.")
