"""Changes to what an address follows: a follow request, its confirmation, leaving, forgetting."""

import logging
from functools import partial

from django.db import transaction
from django.utils import timezone

from articles.following.addresses import address_hash
from articles.following.emails import send_follow_mail
from articles.following.limits import address_within_limit
from articles.following.tokens import new_request
from articles.models import Follow, FollowRequest, Subscriber

logger = logging.getLogger(__name__)


def request_follow(tag, email, frequency):
    """Record a follow request; return the work left for after the answer (the mail it may cause).

    The same work for every address, whatever it is (new, pending, subscribed, over its limit): the
    address's rate-limit counter, one INSERT of the request and one SELECT of a subscriber, so the
    answer takes no longer for one than for another. Even a request whose mail will not mention it
    (the address is subscribed, or over its limit) is recorded: it confirms nothing without its link,
    and goes with the others after a week.
    """
    allowed = address_within_limit(email)
    _, token = new_request(tag, email, frequency)
    subscriber = Subscriber.objects.filter(email=email, confirmed_at__isnull=False).first()
    if not allowed:
        return partial(
            logger.info, "Follow %s: mail to %s held back by the rate limit", tag.slug, address_hash(email)
        )
    return partial(send_follow_mail, tag, email, token, subscriber)


def forget(subscribers):
    """Delete these subscribers with everything about them: follows and delivery history (cascaded),
    and the follow requests of their addresses, whose older links would otherwise subscribe them again."""
    with transaction.atomic():
        FollowRequest.objects.filter(email__in=subscribers.values("email")).delete()
        subscribers.delete()


def leave(subscriber):
    """The subscriber leaves: forgotten entirely."""
    forget(Subscriber.objects.filter(pk=subscriber.pk))
    logger.info("Subscriber %s left", address_hash(subscriber.email))


def confirm(follow_request, frequency):
    """Confirm one follow request: its address becomes (or stays) a subscriber, at `frequency`, following
    its tag. Nothing else anyone asked for the address is taken with it."""
    now = timezone.now()
    with transaction.atomic():
        claimed = FollowRequest.objects.filter(pk=follow_request.pk, confirmed_at__isnull=True).update(
            confirmed_at=now
        )
        if not claimed:  # confirmed meanwhile, by another click
            return
        subscriber, _ = Subscriber.objects.select_for_update().get_or_create(
            email=follow_request.email, defaults={"confirmed_at": now, "frequency": frequency}
        )
        if not subscriber.is_confirmed:
            # A row from before follow requests: what it followed was never confirmed by anyone.
            subscriber.follows.all().delete()
            subscriber.confirmed_at = now
        subscriber.frequency = frequency
        subscriber.save(update_fields=["confirmed_at", "frequency"])
        Follow.objects.get_or_create(subscriber=subscriber, tag=follow_request.tag)
