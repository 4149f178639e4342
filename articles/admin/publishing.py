"""Publishing from the article list: who may, and the Publish / Unpublish actions."""

from django.contrib import admin, messages
from django.db import transaction
from django.utils.html import format_html

from articles import audit
from articles.models import Article, Revision


def can_publish(user):
    return user.has_perm("articles.publish_article")


class PublishingActionsMixin:
    """ArticleAdmin's bulk actions, offered only to those who may publish (permissions=["publish"])."""

    def has_publish_permission(self, request):
        return can_publish(request.user)

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
