"""Subscribers in the admin: who follows what and how often, deleting (forgetting) on request, CSV
export; and the addresses suppressed after bounces or complaints, which an editor can lift."""

import csv
import logging

from django.contrib import admin, messages
from django.http import HttpResponse

from articles.admin.widgets import CheckedAutocompleteMixin
from articles.following.addresses import address_hash
from articles.following.subscriptions import forget
from articles.models import Follow, Subscriber, Suppression

logger = logging.getLogger(__name__)


class FollowInline(CheckedAutocompleteMixin, admin.TabularInline):
    model = Follow
    fields = ["tag", "author", "section", "article", "frequency"]
    autocomplete_fields = ["tag", "author", "section", "article"]
    extra = 0


def describe_follows(subscriber):
    """'Tag OpenAI (daily); Author Ada Brooks (immediate)', from prefetched follows."""
    follows = sorted(subscriber.follows.all(), key=lambda follow: (follow.kind, follow.target_name.lower()))
    return "; ".join(
        f"{follow.kind.capitalize()} {follow.target_name} ({follow.frequency})" for follow in follows
    )


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ["email", "is_confirmed", "followed", "created_at"]
    list_filter = [("confirmed_at", admin.EmptyFieldListFilter), "follows__frequency", "follows__tag"]
    search_fields = ["email", "follows__tag__name", "follows__author__name", "follows__section__name"]
    readonly_fields = ["created_at", "confirmed_at", "last_daily_at", "last_weekly_at"]
    inlines = [FollowInline]
    actions = ["export_confirmed_csv"]
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related(*FOLLOWED)

    # Deleted on request, an address is forgotten as when its owner leaves: pending requests too.
    def delete_model(self, request, obj):
        forget(Subscriber.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        forget(queryset)

    @admin.display(description="Confirmed", boolean=True, ordering="confirmed_at")
    def is_confirmed(self, subscriber):
        return subscriber.is_confirmed

    @admin.display(description="Follows")
    def followed(self, subscriber):
        return describe_follows(subscriber)

    @admin.action(description="Export the confirmed among the selected as CSV", permissions=["view"])
    def export_confirmed_csv(self, request, queryset):
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="confirmed-subscribers.csv"'
        writer = csv.writer(response)
        writer.writerow(["email", "confirmed_at", "follows"])
        confirmed = queryset.filter(confirmed_at__isnull=False).prefetch_related(*FOLLOWED).order_by("email")
        for subscriber in confirmed.iterator(chunk_size=500):
            # A leading =, +, - or @ would run as a formula in a spreadsheet (CSV injection).
            row = [subscriber.email, subscriber.confirmed_at.isoformat(), describe_follows(subscriber)]
            writer.writerow(["'" + cell if cell[:1] in "=+-@" else cell for cell in row])
        return response


FOLLOWED = ["follows__tag", "follows__author", "follows__section", "follows__article"]


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    """What the email service told us. Nothing here is typed in: rows come from its webhooks, and the
    one thing an editor does is lift a suppression (delete the row) when an address works again."""

    list_display = ["email", "suppressed", "reason", "suppressed_at", "soft_bounces", "last_event_at"]
    list_filter = [("suppressed_at", admin.EmptyFieldListFilter), "reason"]
    search_fields = ["email"]
    readonly_fields = ["email", "reason", "detail", "soft_bounces", "suppressed_at", "last_event_at"]
    date_hierarchy = "last_event_at"
    actions = ["lift"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        # Django's own bulk delete would say "delete"; lifting is what it means here.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="Suppressed", boolean=True, ordering="suppressed_at")
    def suppressed(self, suppression):
        return suppression.suppressed_at is not None

    @admin.action(description="Lift: mail the selected addresses again", permissions=["delete"])
    def lift(self, request, queryset):
        for suppression in queryset:
            logger.info(
                "Suppression of %s (%s) lifted by %s",
                address_hash(suppression.email),
                suppression.reason or "soft bounces",
                request.user.get_username(),
            )
        count, _ = queryset.delete()
        self.message_user(
            request, f"Lifted {count} suppression(s): those addresses are mailed again.", messages.SUCCESS
        )
