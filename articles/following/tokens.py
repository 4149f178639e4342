"""The links that are a subscriber's only authorisation (see the package docstring): a follow request's
confirmation link, and a subscriber's settings and unsubscribe links."""

import datetime
import hashlib
import secrets

from django.core import signing
from django.urls import reverse
from django.utils import timezone

from articles.links import absolute
from articles.models import FOLLOW_KINDS, FollowRequest, Subscriber

CONFIRM_MAX_AGE = 7 * 24 * 3600  # a week to click the confirmation link
LINK_PURPOSES = ("manage", "unsubscribe")  # the subscriber's own links; confirmation links name a request


# Confirmation links: a random token per request, stored as a digest.


def token_digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


def new_request(target, email, frequency):
    """Record a request to follow `target` (a Tag, Author, Section or Article); return it with the token of
    its confirmation link (not stored)."""
    token = secrets.token_urlsafe(32)
    follow_request = FollowRequest.objects.create(
        email=email,
        frequency=frequency,
        token_digest=token_digest(token),
        **FollowRequest.target_filter(target),
    )
    return follow_request, token


def find_request(token):
    """The follow request a confirmation token names, or None when it is unknown or over a week old."""
    since = timezone.now() - datetime.timedelta(seconds=CONFIRM_MAX_AGE)
    return (
        FollowRequest.objects.select_related(*FOLLOW_KINDS)
        .filter(token_digest=token_digest(token), created_at__gte=since)
        .first()
    )


def confirm_url(token):
    """The absolute URL (on SITE_URL) of a follow request's confirmation page."""
    return absolute(reverse("articles:follow-confirm", kwargs={"token": token}))


# Settings and unsubscribe links: the subscriber's link key, signed for the purpose.


def _signer(purpose):
    assert purpose in LINK_PURPOSES
    # Not the salts of the old links ("follow-<purpose>"), whose signatures would verify here too.
    return signing.Signer(salt=f"follow-link-{purpose}")


def make_token(subscriber, purpose):
    return _signer(purpose).sign(subscriber.link_key)


def _signed_key(token, purpose):
    try:
        return _signer(purpose).unsign(token)
    except signing.BadSignature:
        return None


def _legacy_subscriber(token, purpose):
    """The subscriber a link mailed before link keys names (their id and an address digest, signed)."""
    try:
        pk, digest = signing.loads(token, salt=f"follow-{purpose}")
    except (signing.BadSignature, ValueError, TypeError):
        return None
    subscriber = Subscriber.objects.filter(pk=pk).first()
    if subscriber is None or hashlib.sha256(subscriber.email.encode()).hexdigest()[:16] != digest:
        return None
    return subscriber


def read_token(token, purpose):
    """The subscriber a settings or unsubscribe token names, or None when it is tampered, foreign or
    stale (they left)."""
    key = _signed_key(token, purpose)
    if key is None:
        return _legacy_subscriber(token, purpose)
    return Subscriber.objects.filter(link_key=key).first()


def is_genuine(token, purpose):
    """Whether we made this token for this purpose, even if the subscriber it named has left."""
    if _signed_key(token, purpose) is not None:
        return True
    try:
        signing.loads(token, salt=f"follow-{purpose}")
    except (signing.BadSignature, ValueError, TypeError):
        return False
    return True


def follow_url(subscriber, purpose):
    """The absolute URL (on SITE_URL) of a subscriber's settings or unsubscribe page."""
    return absolute(reverse(f"articles:follow-{purpose}", kwargs={"token": make_token(subscriber, purpose)}))


CONFIRM_DAYS = CONFIRM_MAX_AGE // (24 * 3600)
