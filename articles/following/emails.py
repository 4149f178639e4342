"""Every message this package writes: a follow request's mail, and the alerts and digests of a
notification run."""

import logging
import re
import smtplib
from email.errors import MessageError
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from articles.following.addresses import address_hash
from articles.following.targets import Followable
from articles.following.tokens import CONFIRM_DAYS, confirm_url, follow_url
from articles.models import Follow

logger = logging.getLogger(__name__)

Frequency = Follow.Frequency


def send_follow_mail(target, email, token, subscriber, frequency):
    """A new or pending address gets its request's confirmation link; a subscribed one, its settings link
    with the target (a Tag, Author, Section or Article) ready to add at the frequency asked: the change
    waits for the owner of the mailbox."""
    target = Followable(target)
    confirmed = subscriber is not None
    if confirmed:
        subject = f"Add {target.short} to your {settings.SITE_NAME} emails?"
        query = urlencode({"add": target.value, "frequency": frequency}, safe=":")
        link = f"{follow_url(subscriber, 'manage')}?{query}"
    else:
        subject = f"Confirm you want {target.about}"
        link = confirm_url(token)
    context = {
        "target": target,
        "link": link,
        "confirmed": confirmed,
        "site_name": settings.SITE_NAME,
        "site_url": settings.SITE_URL,
        "valid_days": CONFIRM_DAYS,
    }
    message = EmailMultiAlternatives(
        subject, render_to_string("emails/confirm_follow.txt", context), to=[email]
    )
    message.attach_alternative(render_to_string("emails/confirm_follow.html", context), "text/html")
    label = target.log_name
    try:
        message.send()
    # The mail server's trouble, or the email package refusing the address after all. By its name only:
    # the exception's text may hold the address.
    except (smtplib.SMTPException, OSError, ValueError, MessageError) as exc:
        logger.warning("Follow %s: mail to %s failed (%s)", label, address_hash(email), type(exc).__name__)
        return
    logger.info("Follow %s: mail sent to %s", label, address_hash(email))


def one_line(text):
    return re.sub(r"\s+", " ", text).strip()


def join_names(names, limit=3):
    """Names for a subject line: 'A', 'A and B', 'A, B and C', 'A, B, C and 2 more'."""
    names = list(names)
    if len(names) > limit:
        return f"{', '.join(names[:limit])} and {len(names) - limit} more"
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def _stories_count(count):
    return f"{count} new {'story' if count == 1 else 'stories'}"


def subject_for(subscriber, matches):
    if subscriber.frequency == Frequency.IMMEDIATE:
        if len(matches) == 1:
            story, tags = matches[0]
            return one_line(f"New on {tags[0]['name']}: {story.title}")
        names = sorted({tag["name"] for _, tags in matches for tag in tags}, key=str.lower)
        return one_line(f"{_stories_count(len(matches))} on {join_names(names)}")
    kind = "weekly" if subscriber.frequency == Frequency.WEEKLY else "daily"
    return one_line(f"Your {kind} {settings.SITE_NAME} digest: {_stories_count(len(matches))}")


def build_message(subscriber, matches, connection=None):
    """The alert or digest for one subscriber: text and HTML parts, one-click unsubscribe headers."""
    unsubscribe_url = follow_url(subscriber, "unsubscribe")
    digest = subscriber.frequency != Frequency.IMMEDIATE
    context = {
        "site_name": settings.SITE_NAME,
        "site_url": settings.SITE_URL,
        "subscriber": subscriber,
        "items": [{"story": story, "tags": tags} for story, tags in matches],
        "count": len(matches),
        "manage_url": follow_url(subscriber, "manage"),
        "unsubscribe_url": unsubscribe_url,
    }
    template = "emails/digest" if digest else "emails/notification"
    message = EmailMultiAlternatives(
        subject=subject_for(subscriber, matches),
        body=render_to_string(f"{template}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[subscriber.email],
        headers={
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",  # RFC 8058
            "Auto-Submitted": "auto-generated",  # RFC 3834: no vacation auto-replies, please
        },
        connection=connection,
    )
    message.attach_alternative(render_to_string(f"{template}.html", context), "text/html")
    return message
