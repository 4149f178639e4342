"""Most read: story views counted without cookies, stored identifiers or third parties (issue 20, part 4).

A story page carries a tiny script (static/js/mostread.js) that sends one beacon per view to ``/beacon/``
(articles/beacon.py) with the story's *ticket*: its id, signed by the site, so that no one can fill the
counts with made-up ids, and no database query is needed to tell a real story from junk. Counting is
in the cache alone:

- **Hourly buckets.** With Redis, a sorted set per UTC hour (``mostread:h:<YYYYMMDDHH>``, story id ->
  views, ZINCRBY), kept ``KEEP_HOURS`` so the dashboard's 7 days can be read: its size grows with the
  stories read in that hour, never with the views. With any other cache (the local-memory one of
  ``make run`` and the tests) the same buckets are counters under Django's cache API (``CacheStore``).
- **Once a day per visitor and story.** A view counts if the visitor (address + user agent) has not
  viewed that story yet this UTC day: the key is a hash of those with a *salt* that is random per
  day, lives only in the cache (never in the database, never in a file the app writes) and expires
  with the day, as do the hashes. After midnight neither can be linked to the day before.
- **Bots.** Ignored by user agent (the crawler-user-agents list, maintained upstream), and by behaviour:
  a beacon with no ``Origin`` of this site (browsers always send one with a POST; scripts and crawlers
  replaying the URL do not), a fetch from another site (``Sec-Fetch-Site``), no user agent at all,
  or a visitor reading more than ``MAX_STORIES_PER_MINUTE`` different stories in one minute (this
  minute and the one before, by our clock): from then on, nothing of theirs counts that day.

``most_read(hours)`` sums the buckets of the last ``hours`` hours (the current one included);
``most_read_box()`` is the rendered list of the home and story pages, made again at most every
``REFRESH_SECONDS`` (the pages showing it are kept no longer).
"""

import datetime
import functools
import hashlib
import logging
import secrets
from typing import NamedTuple

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.template.loader import render_to_string
from django.utils import timezone

from articles import cachekeys
from articles.models import Article
from conclave import pagecache

logger = logging.getLogger(__name__)

KEEP_HOURS = 8 * 24  # the dashboard reads 7 days; one more covers the hours of the day in progress
DAY_HOURS, WEEK_HOURS = 24, 7 * 24
BOX_SIZE = 5
REFRESH_SECONDS = 300
# A reader opens a story, reads, maybe opens another: ten different stories inside a minute is a script.
MAX_STORIES_PER_MINUTE = 10
RATE_WINDOW_SECONDS = 60
ONE_MINUTE = datetime.timedelta(seconds=RATE_WINDOW_SECONDS)
# Only the first this many characters of a user agent are hashed or matched (they can be kilobytes).
USER_AGENT_CHARS = 512

_tickets = signing.Signer(salt="articles.readership.ticket")


def ticket(article_id):
    """What a story page gives its beacon: the story's id, signed (``"42:Xyz…"``)."""
    return _tickets.sign(str(article_id))


def article_id_of(ticket_text):
    """The story id a ticket names, or None for anything else (unsigned, forged, malformed)."""
    try:
        value = _tickets.unsign(ticket_text)
    except signing.BadSignature:
        return None
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None


class Visitor(NamedTuple):
    """What a beacon tells about who sent it: nothing of it is stored as it is."""

    address: str
    user_agent: str
    origin_ok: bool  # sent by a page of this site, as a browser's sendBeacon is


# -- Bots ----------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def is_bot_agent(user_agent):
    """Whether a user agent is a crawler's (or no browser's at all: empty). Few distinct strings come
    by, so each is matched once per process."""
    if not user_agent.strip():
        return True
    import crawleruseragents  # loaded on the first beacon, not with every page

    return crawleruseragents.is_crawler(user_agent)


def is_ignored(visitor):
    return not visitor.origin_ok or is_bot_agent(visitor.user_agent[:USER_AGENT_CHARS])


# -- The day's salt and the visitor's hash --------------------------------------------------------------


def _until_tomorrow(now):
    tomorrow = (now + datetime.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((tomorrow - now).total_seconds()) + 1)


def daily_salt(now):
    """Today's (UTC) salt: random, made by the first beacon of the day, shared by every server through
    the cache and gone from it after the day. ``add`` makes sure two servers agree on one."""
    key = f"mostread:salt:{now:%Y%m%d}"
    cache.add(key, secrets.token_hex(16), _until_tomorrow(now))
    return cache.get(key)


def _digest(salt, *parts):
    return hashlib.blake2b("\x00".join((salt, *parts)).encode(), digest_size=16).hexdigest()


# -- Counting ------------------------------------------------------------------------------------------


def _hour(when):
    return when.astimezone(datetime.UTC).strftime("%Y%m%d%H")


def _hours(now, hours):
    start = now.astimezone(datetime.UTC).replace(minute=0, second=0, microsecond=0)
    return [_hour(start - datetime.timedelta(hours=n)) for n in range(hours)]


def _bucket_expiry(hour):
    start = datetime.datetime.strptime(hour, "%Y%m%d%H").replace(tzinfo=datetime.UTC)
    return start + datetime.timedelta(hours=KEEP_HOURS + 1)


class RedisStore:
    """Buckets as Redis sorted sets, on the cache's own server (named by its LOCATION), under the
    cache's key prefix."""

    def __init__(self, location):
        import redis

        self.client = redis.Redis.from_url(location)

    def bucket_key(self, hour):
        return cache.make_key(f"mostread:h:{hour}")

    def add(self, hour, article_id):
        key = self.bucket_key(hour)
        with self.client.pipeline(transaction=False) as pipe:
            pipe.zincrby(key, 1, article_id)
            pipe.expireat(key, _bucket_expiry(hour))
            pipe.execute()

    def totals(self, hours):
        keys = [self.bucket_key(hour) for hour in hours]
        found = self.client.zunion(keys, withscores=True)
        return {int(member): int(score) for member, score in found}


def _count_up(key, timeout):
    """Adds one to a counter of the cache, made if missing (Django's incr needs it there): the new count."""
    cache.add(key, 0, timeout)
    try:
        return cache.incr(key)
    except ValueError:  # expired between the two
        cache.add(key, 1, timeout)
        return 1


class CacheStore:
    """Buckets under Django's cache API, for caches that are not Redis: per hour a counter per story,
    and the hour's stories as numbered slots (each written once, so nothing is read, changed and
    written back: two requests at once lose nothing)."""

    def add(self, hour, article_id):
        timeout = int((_bucket_expiry(hour) - timezone.now()).total_seconds())
        counter = f"mostread:h:{hour}:{article_id}"
        if cache.add(counter, 1, timeout):
            slot = _count_up(f"mostread:h:{hour}:n", timeout)
            cache.set(f"mostread:h:{hour}:slot:{slot}", article_id, timeout)
        else:
            _count_up(counter, timeout)

    def totals(self, hours):
        sizes = cache.get_many([f"mostread:h:{hour}:n" for hour in hours])
        slots = [
            f"mostread:h:{hour}:slot:{n}"
            for hour in hours
            for n in range(1, sizes.get(f"mostread:h:{hour}:n", 0) + 1)
        ]
        ids_by_hour = {}
        for key, article_id in cache.get_many(slots).items():
            ids_by_hour.setdefault(key.split(":")[2], set()).add(article_id)
        counters = [f"mostread:h:{hour}:{pk}" for hour, ids in ids_by_hour.items() for pk in ids]
        totals = {}
        for key, count in cache.get_many(counters).items():
            article_id = int(key.rsplit(":", 1)[1])
            totals[article_id] = totals.get(article_id, 0) + count
        return totals


@functools.cache
def _redis_store(location):
    return RedisStore(location)


def store():
    """The Redis store when the cache is Redis (Django's backend or django-redis), else the fallback."""
    config = settings.CACHES["default"]
    if config["BACKEND"].endswith("RedisCache"):
        location = config["LOCATION"]
        return _redis_store(location[0] if isinstance(location, list | tuple) else location.split(",")[0])
    return CacheStore()


def record_view(article_id, visitor, now=None):
    """Counts one view of a story, unless it comes from a bot or repeats this visitor's view of it
    today. Returns whether it counted (for tests and the bench; the beacon answers 204 either way)."""
    if is_ignored(visitor):
        return False
    now = (now or timezone.now()).astimezone(datetime.UTC)
    salt = daily_salt(now)
    if salt is None:  # the cache lost it at once: nothing can be deduplicated, so nothing is counted
        return False
    user_agent = visitor.user_agent[:USER_AGENT_CHARS]
    who = _digest(salt, visitor.address, user_agent)
    day = _until_tomorrow(now)
    flagged = f"mostread:fast:{who}"
    if cache.get(flagged):
        return False
    if not cache.add(f"mostread:seen:{_digest(salt, who, str(article_id))}", 1, day):
        return False  # read already today
    # A new story for this visitor: too many within a minute or two, and they are a script. Counted
    # per minute of our clock (not the cache server's expiry, which runs on its own), this one and the
    # last together, so that a burst across the turn of a minute is seen whole.
    minute, last_minute = (f"mostread:rate:{who}:{when:%Y%m%d%H%M}" for when in (now, now - ONE_MINUTE))
    stories = _count_up(minute, 2 * RATE_WINDOW_SECONDS) + cache.get(last_minute, 0)
    if stories > MAX_STORIES_PER_MINUTE:
        cache.set(flagged, 1, day)
        return False
    store().add(_hour(now), article_id)
    return True


def most_read(hours=DAY_HOURS, limit=BOX_SIZE, now=None):
    """[(article_id, views)] of the last ``hours`` hours, most read first (ties: the newer id first).
    Ids only: stories taken down since are still among them (``most_read_stories`` leaves them out)."""
    totals = store().totals(_hours(now or timezone.now(), hours))
    ranked = sorted(totals.items(), key=lambda item: (-item[1], -item[0]))
    return ranked if limit is None else ranked[:limit]


def most_read_stories(*windows, limit=BOX_SIZE):
    """For each number of hours in ``windows``, [(article, views)] of the live stories most read, in one
    query for them all (none when nothing was read). A cache that fails gives empty lists."""
    try:
        ranked = [most_read(hours, limit=None) for hours in windows]
    except Exception as exc:
        logger.warning("Most read: counts unavailable: %r", exc)
        return [[] for _ in windows]
    # Enough candidates that stories taken down since leave the list full.
    wanted = {pk for counts in ranked for pk, _views in counts[: limit * 3]}
    articles = (
        Article.objects.published().only("title", "slug", "published_at").in_bulk(wanted) if wanted else {}
    )
    return [[(articles[pk], views) for pk, views in counts if pk in articles][:limit] for counts in ranked]


def most_read_box():
    """The "Most read" box of the home and story pages, rendered (empty when nothing was read in the
    last day). The same for every reader and every page, made again at most every REFRESH_SECONDS:
    the pages that show it are kept no longer (``pagecache.remember``), at our cache and at the edge."""
    return pagecache.remember("most-read-box", _render_box, REFRESH_SECONDS)


def _render_box():
    (stories,) = most_read_stories(DAY_HOURS)
    # A story taken down (or retitled) leaves the box at once: its card is purged.
    pagecache.shows(*(cachekeys.card(article.pk) for article, _views in stories))
    return render_to_string("includes/most_read.html", {"stories": stories}) if stories else ""
