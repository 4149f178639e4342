"""Subscribers in the admin: who follows what, deleting (forgetting) on request, CSV export."""

import csv

from django.contrib import admin
from django.http import HttpResponse

from articles.admin.widgets import CheckedAutocompleteMixin
from articles.following.subscriptions import forget
from articles.models import Follow, Subscriber


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
