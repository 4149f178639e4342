"""Who published, unpublished or deleted which story: one log line each, written once it is committed.

The admin's own history (LogEntry) shows editors what changed; these lines are for the people who run
the site, in the same JSON log as everything else.
"""

import logging
from functools import partial

from django.db import transaction

logger = logging.getLogger("articles.audit")

PUBLISH, UNPUBLISH, DELETE = "publish", "unpublish", "delete"


def status_action(status_before, article):
    """PUBLISH or UNPUBLISH if saving ``article`` moved it across the line, else None."""
    published = article.Status.PUBLISHED
    if article.status == published and status_before != published:
        return PUBLISH
    if status_before == published and article.status != published:
        return UNPUBLISH
    return None


def record(action, article, user, via="admin"):
    """Log ``action`` on ``article`` by ``user`` (None for a command) when the transaction commits."""
    fields = {
        "action": action,
        "article_id": article.pk,
        "slug": article.slug,
        "title": article.title,
        "published_at": article.published_at.isoformat() if article.published_at else None,
        "user_id": user.pk if user else None,
        "username": user.get_username() if user else None,
        "via": via,
    }
    who = fields["username"] or via
    transaction.on_commit(
        partial(logger.info, "%s article %s (%s) by %s", action, article.pk, article.slug, who, extra=fields)
    )
