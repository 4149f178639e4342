"""Every message this package writes: a follow request's mail, and the alerts and digests of a
notification run."""

import logging
import re
import secrets
import smtplib
from dataclasses import dataclass
from email.errors import MessageError
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import dateformat, timezone
from django.utils.html import escape

from articles.following.addresses import address_hash
from articles.following.targets import Followable
from articles.following.tokens import CONFIRM_DAYS, confirm_url, follow_url

logger = logging.getLogger(__name__)


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


def _count(count, one, many):
    return f"{count} {one if count == 1 else many}"


def _live_subject(owed):
    """Ended coverage first, then key points: the news a follower of a live story is waiting for."""
    if owed.endings:
        return f"Live coverage ended: {join_names(ending.title for ending in owed.endings)}"
    points = owed.key_points
    if len(points) == 1:
        return f"Key point: {points[0].headline}"
    titles = dict.fromkeys(point.title for point in points)
    return f"{len(points)} key points: {join_names(titles)}"


def subject_for(owed):
    stories, notes = owed.stories, owed.notes
    if owed.digest:
        extra = f" and {_count(len(notes), 'correction', 'corrections')}" if notes else ""
        if owed.endings:
            extra += f"; live coverage ended: {join_names(ending.title for ending in owed.endings)}"
        return one_line(
            f"Your {owed.digest} {settings.SITE_NAME} digest: "
            f"{_count(len(stories), 'new story', 'new stories')}{extra}"
        )
    if owed.endings or owed.key_points:
        return one_line(_live_subject(owed))
    if len(stories) == 1:
        reason = owed.groups[0][0][0]
        return one_line(
            f"New {'from' if reason.kind == 'author' else 'on'} {reason.name}: {stories[0].title}"
        )
    if stories:
        names = list(dict.fromkeys(reason.name for reasons, _ in owed.groups for reason in reasons))
        return one_line(f"{_count(len(stories), 'new story', 'new stories')}: {join_names(names)}")
    if len(notes) == 1:
        note = notes[0][0]
        return one_line(f"{note.label}: {note.title}")
    return f"{len(notes)} corrections and updates to stories since we wrote"


# What differs between two recipients of the same email: their address and their own links. Messages are
# rendered once with these marks in place; each recipient's values replace them (for one message), or
# the email service does, from its merge data (for a batch: articles.following.services).
# A random part, so that no story's text can hold a mark.
RECIPIENT_FIELDS = ("email", "manage_url", "unsubscribe_url")
MARKS = {name: f"[[{name}-{secrets.token_hex(6)}]]" for name in RECIPIENT_FIELDS}


@dataclass(frozen=True)
class Content:
    """One email as every recipient of it sees it, with RECIPIENT_FIELDS left as MARKS."""

    subject: str
    text: str
    html: str


def content_key(owed):
    """Two subscribers owed equal keys get the same email, bar their own fields."""
    return (
        owed.digest,
        tuple((reasons, tuple(story.id for story in stories)) for reasons, stories in owed.groups),
        tuple((note.id, via) for note, via in owed.notes),
        tuple(point.id for point in owed.key_points),
        tuple(ending.id for ending in owed.endings),
    )


def _when(moment, with_date=True):
    moment = timezone.localtime(moment)
    return dateformat.format(moment, "j F Y, H:i T" if with_date else "H:i T")


def coverage_span(ending):
    """When a live coverage ran: '2 March 2026, 17:00–19:30 UTC', or both dates when it ran overnight."""
    start, end = ending.started_at or ending.ended_at, ending.ended_at
    if timezone.localtime(start).date() == timezone.localtime(end).date():
        return f"{dateformat.format(timezone.localtime(start), 'j F Y, H:i')}–{_when(end, with_date=False)}"
    return f"{_when(start)} to {_when(end)}"


def _live_context(owed):
    by_story = {}
    for point in owed.key_points:
        story = by_story.setdefault(
            point.article_id, {"title": point.title, "url": point.url.partition("#")[0], "points": []}
        )
        story["points"].append(point)
    endings = [{"coverage": ending, "span": coverage_span(ending)} for ending in owed.endings]
    return {"key_points": list(by_story.values()), "endings": endings}


def render_content(owed):
    stories = owed.stories
    context = {
        "site_name": settings.SITE_NAME,
        "site_url": settings.SITE_URL,
        "groups": [
            {
                "because": join_names([reason.name for reason in reasons], limit=4),
                "reasons": reasons,
                "stories": group,
            }
            for reasons, group in owed.groups
        ],
        "single": stories[0] if len(stories) == 1 and not owed.digest else None,
        "reasons": owed.groups[0][0] if len(stories) == 1 else (),
        "count": len(stories),
        "notes": [{"note": note, "sent": via == "sent"} for note, via in owed.notes],
        "digest": owed.digest,
        **_live_context(owed),
        **MARKS,
    }
    context["subject"] = subject_for(owed)
    return Content(
        subject=context["subject"],
        text=render_to_string("emails/notification.txt", context),
        html=render_to_string("emails/notification.html", context),
    )


def recipient_fields(subscriber):
    return {
        "email": subscriber.email,
        "manage_url": follow_url(subscriber, "manage"),
        "unsubscribe_url": follow_url(subscriber, "unsubscribe"),
    }


def fill(template, values):
    for name, value in values.items():
        template = template.replace(MARKS[name], value)
    return template


def unsubscribe_headers(unsubscribe_url):
    return {
        "List-Unsubscribe": f"<{unsubscribe_url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",  # RFC 8058
    }


# RFC 3834: no vacation auto-replies, please.
COMMON_HEADERS = {"Auto-Submitted": "auto-generated"}


def build_message(subscriber, content, connection=None):
    """One subscriber's alert or digest: text and HTML parts, one-click unsubscribe headers."""
    values = recipient_fields(subscriber)
    html_values = {name: escape(value) for name, value in values.items()}
    message = EmailMultiAlternatives(
        subject=content.subject,
        body=fill(content.text, values),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[subscriber.email],
        headers={**unsubscribe_headers(values["unsubscribe_url"]), **COMMON_HEADERS},
        connection=connection,
    )
    message.attach_alternative(fill(content.html, html_values), "text/html")
    return message
