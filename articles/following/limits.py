"""Rate limits of the follow form: emails to one address, and acting follow requests from one IP."""

import logging

from django.core.cache import cache

from articles.following.addresses import address_hash

logger = logging.getLogger(__name__)

# Rate limits, as (events, seconds): emails to one address, and acting follow requests from one IP.
ADDRESS_LIMIT = (3, 3600)
IP_LIMIT = (10, 600)


def address_within_limit(email):
    """Count one more mail to this address; False once it is over ADDRESS_LIMIT."""
    return within_limit("address", email, ADDRESS_LIMIT)


def ip_within_limit(ip):
    """Count one more acting follow request from this IP; False once it is over IP_LIMIT."""
    return within_limit("ip", ip, IP_LIMIT)


def within_limit(kind, ident, limit):
    """Count one more event for ident; False once it is over the limit for the current window.

    The counter lives in the cache (add, then incr: atomic on Redis). If the cache is down, the
    request goes through and the failure is logged: better a few extra mails than a broken form.
    """
    events, window = limit
    key = f"follow-limit:{kind}:{address_hash(ident)}"
    try:
        cache.add(key, 0, window)
        return cache.incr(key) <= events
    except ValueError:  # the counter expired between add and incr: a new window starts with this event
        return True
    except Exception:
        logger.warning("Follow rate limit %r unavailable: letting the request through", kind, exc_info=True)
        return True
