"""An article's revisions in the admin: the list with what each changed, one revision, and restoring it."""

import itertools

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from articles import rendering
from articles.models import Revision
from articles.revisions import revision_changes, snapshot_names


class RevisionHistoryMixin:
    """ArticleAdmin's revision pages, at <id>/revisions/ and <id>/revisions/<revision id>/."""

    def get_urls(self):
        urls = [
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
            try:
                with transaction.atomic():
                    revision.restore(request.user)
                    self.log_change(request, article, done)
            except rendering.RenderError as exc:
                # Its body shows a picture deleted from the library since: nothing is changed.
                self.message_user(request, f"This revision cannot be restored. {exc}", messages.ERROR)
                return redirect("admin:articles_article_revision", article.pk, revision.pk)
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
