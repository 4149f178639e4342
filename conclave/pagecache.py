"""The page cache for anonymous visitors (DESIGN.md, "How a request flows").

Pages are kept per address, each with the *keys* of what it shows (``shows()``: the story, every story
listed on it, its section, tags and authors, the navigation...) and the version each key had when the
page was made. A change purges its keys (``purge()``, after the commit; articles/cachekeys.py says
which change touches which keys): each gets a new version, and exactly the pages holding one of them
are stale, while every other page stays a hit. A hit reads the page with the site-wide purge sequence,
in one round trip: a page found current when the sequence last stood where it stands now is current
still; after a purge it is checked once against its keys' versions, a second round trip, and marked
current at the new number (``_look_up`` says why no purge is missed). The same keys go out as
``Surrogate-Key`` and ``Cache-Tag`` headers, so that an edge cache purges the same pages
(conclave/edgepurge.py). A scheduled story going live changes listings with no
write at all: a page says so (``shows(..., until=...)``) and is not kept past that time.

The address is the page's URL with only the query parameters that page reads (``PAGE_QUERIES``), in a
fixed order: tracking tags (utm_*, fbclid, gclid) and made-up parameters neither make new entries nor
reach the view, which sees exactly the parameters its key holds.

Every entry carries its own "valid until" time, checked on each read: the cache server's expiry is only
a second line, since it runs on its own clock (and tests move ours with time_machine).

When a busy page goes stale (a publish, or its time ran out), one request makes it again, rather than
every reader rendering it at once. The readers arriving meanwhile wait for that page (up to
``REMAKE_WAIT_SECONDS``), so a change shows from the first answer after it; only when making it takes
longer do they get the previous copy, for at most ``GRACE_SECONDS`` after it went stale. Taking something
down (unpublish, delete) is a *hard* purge: no page made before it is served again, not even within the
grace.

Every kept page also tells browsers and CDNs how long they may keep it (``Cache-Control`` with
``max-age``, ``s-maxage`` and ``stale-while-revalidate``) and carries an ``ETag`` and ``Last-Modified``,
so a visitor who already has it gets a 304. Bodies worth compressing are kept gzipped: compressed once,
then sent as they are to every browser that accepts gzip.

A cache that fails (Redis down) costs speed, never a page: requests are served uncached and a warning
is logged, once a minute.
"""

import contextvars
import datetime
import functools
import gzip
import hashlib
import logging
import math
import os
import re
import time
from types import SimpleNamespace
from typing import NamedTuple

import django.middleware.gzip
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpResponse, QueryDict
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.utils.cache import cc_delim_re, get_conditional_response, patch_cache_control, patch_vary_headers
from django.utils.http import http_date, parse_http_date_safe

logger = logging.getLogger(__name__)


class OncePerMinute(logging.Filter):
    """Lets each kind of warning through once a minute (per process), saying how many it held back.

    With the cache server down every request fails the same way: a line a minute says so as well as
    thousands would, and keeps the log readable for everything else.
    """

    interval = 60.0
    clock = staticmethod(time.monotonic)

    def __init__(self):
        super().__init__()
        self.reset()

    def reset(self):
        self._seen = {}  # format string -> (when last let through, how many held back since)

    def filter(self, record):
        now = self.clock()
        last, held = self._seen.get(record.msg, (None, 0))
        if last is not None and now - last < self.interval:
            self._seen[record.msg] = (last, held + 1)
            return False
        self._seen[record.msg] = (now, 0)
        if held:
            record.msg = f"{record.msg} ({held} more like it since the last report)"
        return True


failure_log = OncePerMinute()
logger.addFilter(failure_log)


class Query(NamedTuple):
    """What a page reads from its query string."""

    # The parameters that choose what it shows: the key holds them, in this order, and the view gets
    # them alone (any other parameter is dropped before the view runs).
    keys: tuple[str, ...] = ()
    # Parameters that make the answer one visitor's own (a draft preview's signed link): a request
    # carrying one reaches the view and is never kept, rather than giving every token an entry.
    personal: tuple[str, ...] = ()


# Every public page by URL name, and what it reads from its query string. A page not named here is
# never cached (the safe default: its view sees the whole query string, and nothing it answers is
# kept); tests/test_pagecache.py fails for a public URL pattern missing from this table. ``None``:
# never cached, on purpose: the subscriber pages and the follow form carry tokens or per-visitor
# state, and the health check must reach the database every time. The admin is not named: it is for
# staff, and never cached.
PAGE_QUERIES = {
    "articles:home": Query(keys=("page",)),
    "articles:detail": Query(personal=("preview",)),
    "articles:live-updates": Query(),
    "articles:section": Query(keys=("page",)),
    "articles:section-feed": Query(),
    "articles:section-feed-atom": Query(),
    "articles:author": Query(keys=("page",)),
    "articles:author-feed": Query(),
    "articles:author-feed-atom": Query(),
    "articles:tags": Query(keys=("page",)),
    "articles:tag": Query(keys=("page",)),
    "articles:tag-feed": Query(),
    "articles:tag-feed-atom": Query(),
    "articles:archive-month": Query(keys=("page",)),
    "articles:search": Query(keys=("q", "page")),
    "articles:feed": Query(),
    "articles:feed-atom": Query(),
    "sitemap": Query(),
    "sitemap-section": Query(keys=("p",)),  # Django's sitemap view pages with ?p=
    "news-sitemap": Query(),
    "robots": Query(),
    "articles:follow": None,
    "articles:email-tracking-webhook": None,
    "articles:author-follow": None,
    "articles:section-follow": None,
    "articles:story-follow": None,
    "articles:follow-confirm": None,
    "articles:follow-manage": None,
    "articles:follow-unsubscribe": None,
    "articles:healthz": None,
    "articles:beacon": None,
}


def _page_number(value):
    """Paginators read a page number with int(): ``02``, `` 2``, ``+2`` are all page 2, one key; page 1
    is the page with no number at all."""
    try:
        number = int(value)
    except ValueError:
        return value  # "last", or not a number at all (the view answers 404, which is never kept)
    return "" if number == 1 else str(number)


# Values that different spellings can give, in one spelling, so that each page has one key.
CANONICAL_VALUES = {"page": _page_number, "p": _page_number}

UNCACHEABLE_DIRECTIVES = {"private", "no-cache", "no-store"}
# How long the next scheduled time is trusted when no save says otherwise.
SCHEDULE_RECHECK_SECONDS = 300
# Browsers and CDNs cannot be told that a story changed: browsers keep a page at most a minute (then
# ask again, mostly getting a 304), CDNs as long as we do. A CDN may also answer from a copy up to
# STALE_SECONDS past its time while it fetches the new one, so a sudden crowd never waits on us.
BROWSER_SECONDS = 60
# A view may ask browsers to keep its page for less (``response.browser_cache_seconds``): a live story's
# readers should ask again each time, which costs a 304 while nothing changed.
STALE_SECONDS = 60
# Ours: once a page is stale, while one request makes it again, the others get the stale copy for at
# most this long after it went stale (a publish, or its time ran out), then make it themselves.
GRACE_SECONDS = 10
# How long one request keeps the right to make a page again: if it dies, another takes over after this.
REBUILD_SECONDS = 5
# How long the readers arriving while another request makes a stale page again wait for that page,
# checking every REMAKE_POLL_SECONDS, before they get the stale copy: a change is visible to every reader
# from the first answer after it, unless making the page takes longer than this.
REMAKE_WAIT_SECONDS = 1.0
REMAKE_POLL_SECONDS = 0.01
# Smaller bodies gain too little from gzip to pay for the header and the decompression.
COMPRESS_MIN_BYTES = 1024
COMPRESSIBLE_TYPES = re.compile(r"^(?:text/|application/(?:[\w.+-]*\+)?(?:xml|json)\b)")
QVALUE = re.compile(r"(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)")


# Browsers send a handful of spellings, worked out once each; made-up ones push out the least used.
@functools.lru_cache(maxsize=256)
def accepts_gzip(accept_encoding):
    """Whether a client sending this ``Accept-Encoding`` gets gzip (RFC 9110, section 12.5.3).

    Codings are case-insensitive, each with an optional weight (``q``, ``Q``; ``q=0`` refuses it);
    ``*`` stands for every coding not named; ``x-gzip`` is gzip. gzip is sent when it is acceptable,
    unless the client weighs ``identity`` (or ``*``) above it. An element with a malformed weight is
    ignored, as is the header's absence: no header, no gzip.
    """
    weights = {}
    for element in accept_encoding.split(","):
        coding, *parameters = (part.strip() for part in element.split(";"))
        coding = coding.lower()
        weight = "1"
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                weight = value.strip()
        if not coding or not QVALUE.fullmatch(weight):
            continue
        coding = "gzip" if coding == "x-gzip" else coding
        # Named twice: the lower weight counts, so a refusal is never overridden.
        weights[coding] = min(float(weight), weights.get(coding, 1.0))
    gzip_weight = weights.get("gzip", weights.get("*", 0.0))
    identity_weight = weights.get("identity", weights.get("*", 0.0))
    return gzip_weight > 0 and gzip_weight >= identity_weight


# -- Keys: what a page shows, and how a change makes stale exactly the pages that show it ----------------

# Every kept page and fragment holds this key too: purging it empties everything (a new renderer).
SITE_KEY = "site"
SEQUENCE_KEY = "pagecache:sequence"

_shown = contextvars.ContextVar("pagecache_shown", default=None)
# While a page is made: the keys' versions read so far (version key -> version). Its fragments share
# many keys (the site, its sections, the stories it lists), and the page's snapshot holds them all:
# each is read once. A version read earlier in the making is as good as one read at its end: all were
# read after the sequence the page is made at (``started``), so a purge that any of them predates
# moved the sequence past it, and the next reader checks the versions again.
_versions_read = contextvars.ContextVar("pagecache_versions_read", default=None)


class Shown:
    """What the page being made shows: its keys, and the earliest time any of it changes by itself."""

    def __init__(self):
        self.keys = {SITE_KEY}
        self.until = None
        self.timeline = None  # read once per page, however many parts of it ask

    def add(self, keys, until=None):
        self.keys.update(keys)
        if until is not None and (self.until is None or until < self.until):
            self.until = until


def shows(*keys, until=None):
    """Say that the page being made shows what ``keys`` name (and, with ``until``, that it changes by
    itself at that time, with no save: a scheduled story going live).

    Called by views, context processors and ``remember`` while a page is made; outside a request
    (a command, an email) it does nothing.
    """
    shown = _shown.get()
    if shown is not None:
        shown.add(keys, until)


def is_making_a_page():
    """Whether what is shown now goes into a page (or fragment) to be kept: what only bounds a kept
    page's lifetime need not be worked out otherwise."""
    return _shown.get() is not None


def _new_series():
    # From the clock, in microseconds: a sequence lost (evicted) starts again above every number it
    # gave before, so that no version it wrote can look newer than the pages made after it.
    return time.time_ns() // 1000


def _sequence():
    sequence = cache.get(SEQUENCE_KEY)
    if sequence is None:
        cache.add(SEQUENCE_KEY, _new_series(), timeout=None)
        sequence = cache.get(SEQUENCE_KEY)
    return sequence


def _version_key(key):
    return f"pagecache:key:{key}"


def _hard_key(key):
    return f"pagecache:hard:{key}"


def _advance():
    """The next number of the purge sequence (an atomic increment on the cache server)."""
    try:
        return cache.incr(SEQUENCE_KEY)
    except ValueError:  # lost: start a new series, above every number given so far
        # add(), not set(): of two processes finding it lost, the second moves on from the first's
        # series rather than taking it back to its own (a number that may have been given already).
        cache.add(SEQUENCE_KEY, _new_series(), timeout=None)
        return cache.incr(SEQUENCE_KEY)


def purge(keys, hard=False):
    """Make every kept page and fragment that shows any of ``keys`` stale: one write per key.

    Each key gets the next number of a site-wide sequence as its version; a page is current while
    every key it holds has the version it was made with. The sequence moves on once more when the
    versions are written ("purge done"): a hit that finds the sequence where it was when the page was
    last found current reads no version (``_look_up``). ``hard``: something public was taken away (an
    unpublish, a delete): no page made before this purge may be served again, not even to the readers
    who arrive while it is being made again.

    Run after the commit, when the editor's change is already saved: a failing cache is logged, not
    raised (pages are then served uncached until it is back).
    """
    keys = sorted(set(keys))
    if not keys:
        return None
    try:
        sequence = _advance()
        version = (sequence, timezone.now())
        cache.set_many({_version_key(key): version for key in keys}, timeout=None)
        if hard:
            # Read only while a page is within its grace, so kept as long as a page can be.
            timeout = settings.PAGE_CACHE_SECONDS + GRACE_SECONDS + REBUILD_SECONDS
            cache.set_many({_hard_key(key): sequence for key in keys}, timeout=timeout)
        # After every write above: a page found current at an earlier number is checked again.
        _advance()
        return sequence
    except Exception:
        logger.warning("Page cache: could not purge %s", " ".join(keys), exc_info=True)
        return None


def _snapshot(keys, started):
    """The versions of ``keys`` for a page or fragment made since sequence ``started``: None when one of
    them was purged meanwhile (what was made may predate the change: it is not kept)."""
    version_keys = {_version_key(key): key for key in keys}
    found = _read_versions(list(version_keys))
    snapshot = []
    for version_key, key in version_keys.items():
        version = found.get(version_key)
        if version is None:
            # Never purged (or evicted): start its versions now. add() writes nothing if a purge got
            # there first, and the version read back is then the purge's.
            cache.add(version_key, (started, None), timeout=None)
            version = cache.get(version_key)
            if version is None:
                return None
            _remember_version(version_key, version)
        if version[0] > started:
            return None
        snapshot.append((key, version[0]))
    return tuple(snapshot)


class Kept(NamedTuple):
    """A page or fragment as kept: made at sequence ``made_in`` with the versions of ``snapshot``.

    ``token``: a kept page's own name, random, so that a page found current is told apart from another
    kept later at the same address (the "checked" mark of ``_look_up`` names the page it is about)."""

    made_in: int
    snapshot: tuple
    valid_until: datetime.datetime
    value: object
    token: bytes | None = None


def _changed_keys(kept, versions):
    """The keys of ``kept`` purged since it was made (a key whose version was lost counts)."""
    return [
        key for key, sequence in kept.snapshot if (versions.get(_version_key(key)) or (None,))[0] != sequence
    ]


def _versions_of(kept):
    return _read_versions([_version_key(key) for key, _ in kept.snapshot])


def _read_versions(version_keys):
    """{version key: version} of those found; while a page is made, each read once (``_versions_read``)."""
    read = _versions_read.get()
    if read is None:
        return cache.get_many(version_keys)
    if missing := [version_key for version_key in version_keys if version_key not in read]:
        read.update(cache.get_many(missing))
    return {version_key: read[version_key] for version_key in version_keys if version_key in read}


def _remember_version(version_key, version):
    read = _versions_read.get()
    if read is not None:
        read[version_key] = version


def _is_current(kept, versions, now):
    return kept.valid_until > now and not _changed_keys(kept, versions)


class Timeline(NamedTuple):
    """When the newest live story went out, when the next scheduled one goes live, and when the first
    scheduled story of a month with no live story yet goes live (each None when there is none)."""

    newest_published: datetime.datetime | None
    next_scheduled: datetime.datetime | None
    next_new_month: datetime.datetime | None


# Purged by every change to what is published when (articles/cachekeys.py).
SCHEDULE_KEY = "schedule"


def site_timeline():
    """The publishing schedule, in one query until it changes (a save, or the next scheduled story going
    live, whichever comes first). Computed uncached when the cache is down."""
    shown = _shown.get()
    if shown is not None and shown.timeline is not None:
        return shown.timeline
    now = timezone.now()
    try:
        timeline = _timeline(now)
    except Exception as exc:
        logger.warning("Page cache unavailable, reading the schedule uncached: %s", exc)
        timeline = _read_timeline(now)
    if shown is not None:
        shown.timeline = timeline
    return timeline


def _timeline(now):
    key = "pagecache:timeline"
    kept = cache.get(key)
    if kept is not None and _is_current(kept, _versions_of(kept), now):
        return kept.value
    started = _sequence()
    timeline = _read_timeline(now)
    # Valid until that story goes live; bounded anyway, against writes that send no signal.
    valid_until = now + datetime.timedelta(seconds=SCHEDULE_RECHECK_SECONDS)
    if timeline.next_scheduled is not None:
        valid_until = min(valid_until, timeline.next_scheduled)
    snapshot = _snapshot([SCHEDULE_KEY, SITE_KEY], started)
    if valid_until > now and snapshot is not None:
        cache.set(key, Kept(started, snapshot, valid_until, timeline), _timeout(valid_until - now))
    return timeline


# The schedule is the content app's to read (articles.apps registers Article.objects.timeline): this
# module knows pages and their lifetimes, not stories.
_schedule_reader = None


def read_schedule_with(reader):
    """Register ``reader(now) -> (newest published_at, next scheduled, next scheduled in a new month)``."""
    global _schedule_reader
    _schedule_reader = reader


def _read_timeline(now):
    if _schedule_reader is None:
        raise ImproperlyConfigured("The page cache has no schedule to read: call read_schedule_with() first.")
    return Timeline(*_schedule_reader(now))


def _timeout(delta):
    """The cache server's own expiry: a whole number of seconds, never before the entry's own."""
    return max(1, math.ceil(delta.total_seconds()))


def remember(name, compute, seconds, keys=(), until=None, exact=False):
    """``cache.get_or_set`` for data shown on public pages, kept ``seconds`` at most, not past ``until``,
    and until a purge of one of ``keys`` or of what ``compute`` said it shows (``shows()`` called while
    it runs: the cards of the stories it found). The page being made shows all of them too. Computed
    uncached when the cache is down.

    A page showing it is kept no longer than it is (it may lag changes by up to ``seconds``), unless it
    is ``exact``: every change to it purges one of its keys, and ``seconds`` only bounds the storage.
    """
    now = timezone.now()
    key = f"pagecache:fragment:{name}"
    try:
        kept = cache.get(key)
        if kept is not None and _is_current(kept, _versions_of(kept), now):
            shows(*(shown_key for shown_key, _ in kept.snapshot), until=None if exact else kept.valid_until)
            return kept.value
        started = _sequence()
    except Exception as exc:
        logger.warning("Page cache unavailable, computing %s uncached: %s", name, exc)
        started = None
    outer = _shown.get()
    inner = Shown()
    inner.timeline = outer and outer.timeline
    token = _shown.set(inner)
    try:
        value = compute()
    finally:
        _shown.reset(token)
    if outer is not None:
        outer.timeline = inner.timeline
    valid_until = now + datetime.timedelta(seconds=seconds)
    inner.add(keys, until)
    shows(*inner.keys, until=inner.until if exact else min(valid_until, inner.until or valid_until))
    inner.until = min(valid_until, inner.until or valid_until)
    if started is not None and inner.until > now:
        try:
            snapshot = _snapshot(inner.keys, started)
            if snapshot is not None:
                cache.set(key, Kept(started, snapshot, inner.until, value), _timeout(inner.until - now))
        except Exception as exc:
            logger.warning("Page cache: %s not stored: %r", name, exc)
    return value


def _is_anonymous(request):
    # Only the session says who is signed in: the site reads no Authorization header, so one (a proxy's
    # basic auth, or a client wanting a fresh render of a costly page) changes nothing here.
    if settings.SESSION_COOKIE_NAME not in request.COOKIES:
        return True  # no session, no login: known without touching the database
    if request.user.is_authenticated:
        return False
    # Finding no login tells nothing about the page, the same for every anonymous reader: only what the
    # view itself reads of the session counts (_storable_seconds).
    request.session.accessed = False
    return True


def _query_of(request):
    """What the requested page reads from its query string (``PAGE_QUERIES``); None: never cached."""
    # The URLconf the request resolves with: its own, if a middleware gave it one, else the site's (which
    # the handler makes the current one for every request).
    urlconf = getattr(request, "urlconf", None) or settings.ROOT_URLCONF
    return PAGE_QUERIES.get(_view_name(request.path_info, urlconf))


@functools.lru_cache(maxsize=2048)
def _view_name(path_info, urlconf):
    """The name of the view ``path_info`` resolves to (None: none), worked out once per path: the URLconf
    does not change while the site runs (and a test changing ROOT_URLCONF empties this, below). Bounded:
    made-up paths only push out the least used."""
    try:
        return resolve(path_info, urlconf).view_name
    except Resolver404:
        return None


@receiver(setting_changed)
def _urlconf_changed(setting, **kwargs):
    if setting == "ROOT_URLCONF":
        _view_name.cache_clear()


def _canonical_query(request, keys):
    """The query string of the parameters in ``keys`` alone, in that order, one value each (the last,
    which is the one views read) in one spelling; an empty value is left out, like a missing one."""
    kept = QueryDict(mutable=True)
    for name in keys:
        value = CANONICAL_VALUES.get(name, str)(request.GET.get(name, ""))
        if value:
            kept[name] = value
    return kept.urlencode()


def _show_only(request, query):
    """The view sees this query string and no other, so the page it makes is the one its key names."""
    request.META["QUERY_STRING"] = query
    request.GET = QueryDict(query)


def _is_personal(request, query):
    """Whether the request carries a parameter that makes the answer one visitor's own."""
    return bool(request.META.get("QUERY_STRING")) and any(name in request.GET for name in query.personal)


def _show_only_its_parameters(request, query):
    """The view sees the parameters the page reads, alone (with no query string at all, nothing to do)."""
    if request.META.get("QUERY_STRING"):
        _show_only(request, _canonical_query(request, query.keys))


def _page_key(address):
    return f"pagecache:page:{hashlib.sha256(address.encode()).hexdigest()}"


def _checked_key(key):
    return f"{key}:checked"


class Lookup(NamedTuple):
    """What one read of a kept page found."""

    key: str
    kept: Kept | None
    sequence: int | None  # the purge sequence, read with the page (None: lost)
    versions: dict | None  # the versions of its keys; None when they were not read (current by its mark)
    page: dict | None  # the page to answer with, when it is current


def _look_up(key, now):
    """The page kept under ``key``, and whether it is current: in one round trip to the cache server
    for most hits, two when a purge happened since it was last found current.

    The first read takes the page, its "checked" mark and the purge sequence together. The page is
    current, with no version read, when the sequence is still the one it was made at (``made_in``) or
    the one its mark holds: the sequence at the start of a check that found every key of this very
    page (its ``token``) at its version. Otherwise its keys' versions are read; found current, the page
    is marked with the sequence read first, and the next hits take the short way.

    Why no purge is missed: a purge moves the sequence on once before writing its versions and once
    after (``purge``). A check that read sequence X, then versions, missed only the version writes that
    came after its version read, and the purge making them moves the sequence past X after them: from
    then on X no longer matches (the sequence only grows; lost, it starts again above every number it
    gave, ``_new_series``). A purge still writing while X is read is one still running, as a purge
    racing a version read always was; once it returns, no hit takes the short way from before it.
    ``made_in`` is such a mark from the start: a page is kept only if no version of its keys was above
    the sequence read before it was made (``_snapshot``), and a purge writing after that version read
    moves the sequence past ``made_in``. A lost version is read as a purge, as before, whenever the
    versions are read; until the sequence moves, nothing changed that the page shows. The stale path
    (grace, takedowns) always has the versions.
    """
    checked = _checked_key(key)
    found = cache.get_many([key, checked, SEQUENCE_KEY])
    kept = found.get(key)
    if kept is None:
        return Lookup(key, None, found.get(SEQUENCE_KEY), {}, None)
    sequence = found.get(SEQUENCE_KEY)
    fresh = kept.valid_until > now
    mark = (sequence, kept.token) if kept.token is not None else None
    if fresh and sequence is not None and (sequence == kept.made_in or found.get(checked) == mark):
        return Lookup(key, kept, sequence, None, kept.value)
    versions = _versions_of(kept)
    if not fresh or _changed_keys(kept, versions):
        return Lookup(key, kept, sequence, versions, None)
    if sequence is not None and mark is not None:
        cache.set(checked, mark, _timeout(kept.valid_until - now))
    return Lookup(key, kept, sequence, versions, kept.value)


def _stale_since(kept, changed, versions):
    """When the kept page went stale: the first purge of one of its keys, or its own time running out
    (a scheduled story going live); None if that is not known (a key's version lost)."""
    times = [kept.valid_until]
    for key in changed:
        purged_at = versions.get(_version_key(key), (None, None))[1]
        if purged_at is None:
            return None
        times.append(purged_at)
    return min(times)


def _grace(lookup, now, may_rebuild):
    """For a kept page that is not current: (copy, None) to answer with the stale copy while another
    request makes the page again; (None, lock) when this request is to make it, holding ``lock``;
    (None, None) when no copy may be served (none kept, past its grace, or made before a takedown).

    The grace counts from when the page went stale. Readers that get the copy pay one more round trip
    (the takedowns of its purged keys and the lock, read together); the one that takes the lock pays
    one more.
    """
    key, kept, versions = lookup.key, lookup.kept, lookup.versions
    if kept is None:
        return None, None
    changed = _changed_keys(kept, versions)
    stale_since = _stale_since(kept, changed, versions)
    if stale_since is None or now - stale_since > datetime.timedelta(seconds=GRACE_SECONDS):
        return None, None
    lock = f"{key}:rebuild"
    found = cache.get_many([lock, *(_hard_key(key) for key in changed)])
    if any(found.get(_hard_key(key), kept.made_in) > kept.made_in for key in changed):
        return None, None  # made before something it shows was taken down
    held_until = found.get(lock)
    if not may_rebuild or (held_until is not None and held_until > now):
        return kept.value, None
    until = now + datetime.timedelta(seconds=REBUILD_SECONDS)
    if held_until is None:
        if not cache.add(lock, until, REBUILD_SECONDS):
            return kept.value, None  # another request took it first
    else:
        cache.set(lock, until, REBUILD_SECONDS)  # its holder died or is stuck: take over
    return None, lock


def _wait_for_remake(key):
    """The page under ``key`` once the request holding its rebuild lock has kept it, waiting at most
    REMAKE_WAIT_SECONDS; None if nobody is making it (a HEAD request found it stale), if its maker
    finished without keeping it, or if it takes longer: the reader then gets the stale copy."""
    lock = f"{key}:rebuild"
    # Counted in polls, not read from a clock: the wait stays bounded whatever the clock does.
    for _ in range(math.ceil(REMAKE_WAIT_SECONDS / REMAKE_POLL_SECONDS)):
        if cache.get(lock) is None:
            return None
        time.sleep(REMAKE_POLL_SECONDS)
        page = _look_up(key, timezone.now()).page
        if page is not None:
            return page
    return None


def _release(lock):
    try:
        cache.delete(lock)
    except Exception as exc:
        logger.warning("Page cache: rebuild lock not released (it expires by itself): %r", exc)


def _cache_control(response):
    directives = {}
    for directive in cc_delim_re.split(response.get("Cache-Control", "")):
        name, _, value = directive.partition("=")
        if name.strip():
            directives[name.strip().lower()] = value.strip().strip('"')
    return directives


def _max_age(directives):
    """How long the response says a shared cache may keep it (s-maxage, else max-age), if it says."""
    for name in ("s-maxage", "max-age"):
        if name in directives:
            try:
                return int(directives[name])
            except ValueError:
                return 0
    return math.inf


def _storable_seconds(request, response):
    """How long this response may be kept: 0 unless it is a complete, public, cookie-free 200 that
    the same bytes can answer for everyone; never longer than its own Cache-Control allows."""
    if response.status_code != 200 or response.streaming or response.cookies:
        return 0
    # Set on the way out by outer middleware, after this one: a CSRF token in the page, a session that
    # changed, or a real session the view read (not merely the login check) means the answer was made
    # for this visitor. A cookie naming no session reads as an empty one, the same for everyone.
    if request.META.get("CSRF_COOKIE_NEEDS_UPDATE"):
        return 0
    session = getattr(request, "session", None)
    if session is not None and (session.modified or (session.accessed and not session.is_empty())):
        return 0
    # The key is the address alone: an answer that depends on other request headers is not ours to keep.
    varies = {header.strip().lower() for header in cc_delim_re.split(response.get("Vary", "")) if header}
    if not varies <= {"accept-encoding"}:
        return 0
    directives = _cache_control(response)
    if directives.keys() & UNCACHEABLE_DIRECTIVES:
        return 0
    return _max_age(directives)


def _lifetimes(request, response, shown, now):
    """(seconds we keep this page, seconds an edge cache may): what the response allows, never past the
    time something it shows changes by itself (the next scheduled story, for a listing). An edge that
    is purged by key (EDGE_PURGE_URL) may keep it for EDGE_CACHE_SECONDS; one that is not, no longer
    than we do, since no change can reach it sooner."""
    allowed = _storable_seconds(request, response) if request.method == "GET" else 0
    if shown.until is not None:
        allowed = min(allowed, (shown.until - now).total_seconds())
    if allowed <= 0:
        return 0, 0
    ours = min(allowed, settings.PAGE_CACHE_SECONDS)
    edge = min(allowed, settings.EDGE_CACHE_SECONDS) if settings.EDGE_PURGE_URL.strip() else ours
    return ours, edge


def _make_page(response, now, lifetime, edge_lifetime, keys):
    """The response as kept and as sent: caching headers set once, the body gzipped if that helps."""
    content = response.content
    # For the edge caches, which purge by these names (and strip them before the reader): Fastly and
    # Varnish's xkey read a space-separated list, Cloudflare a comma-separated one.
    keys = sorted(keys)
    response["Surrogate-Key"] = " ".join(keys)
    response["Cache-Tag"] = ",".join(keys)
    if not response.has_header("ETag"):
        # Weak: the same page is sent gzipped or not, and both are "the same" for If-None-Match.
        response["ETag"] = f'W/"{hashlib.sha256(content).hexdigest()[:32]}"'
    if not response.has_header("Last-Modified"):
        response["Last-Modified"] = http_date(now.timestamp())
    patch_cache_control(
        response,
        public=True,
        max_age=min(getattr(response, "browser_cache_seconds", BROWSER_SECONDS), math.floor(lifetime)),
        s_maxage=math.floor(edge_lifetime),
        stale_while_revalidate=STALE_SECONDS,
    )
    gzipped = False
    # Only pages that are the same for everyone reach here: compressing them reveals no secret (BREACH).
    if len(content) >= COMPRESS_MIN_BYTES and COMPRESSIBLE_TYPES.match(response.get("Content-Type", "")):
        compressed = gzip.compress(content, compresslevel=6, mtime=0)
        if len(compressed) < len(content):
            content, gzipped = compressed, True
            patch_vary_headers(response, ["Accept-Encoding"])
    return {
        "status": response.status_code,
        "headers": [(h, v) for h, v in response.headers.items() if h.lower() != "content-length"],
        "content": content,
        "gzipped": gzipped,
        "made_at": now,
    }


# The request headers that make a request conditional: without one, there is nothing to compare.
CONDITIONAL_HEADERS = (
    "HTTP_IF_MATCH",
    "HTTP_IF_UNMODIFIED_SINCE",
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
)


def _respond(request, page, now, outcome):
    """The HTTP answer for a kept page: the same bytes for a miss and for every later hit."""
    content = page["content"]
    gzipped = False
    if page["gzipped"]:
        if accepts_gzip(request.META.get("HTTP_ACCEPT_ENCODING", "")):
            gzipped = True
        else:
            content = gzip.decompress(content)
    response = HttpResponse(content, status=page["status"])
    # The headers as the page's response held them, each checked and encoded when it was set there:
    # put back as they were, rather than checked again one by one on every hit.
    response.headers._store.update({header.lower(): (header, value) for header, value in page["headers"]})
    if gzipped:
        response["Content-Encoding"] = "gzip"
    if outcome == "stale":
        # Answered only while the current page is being made: nobody may keep this copy.
        response["Cache-Control"] = "no-cache"
    response["Content-Length"] = str(len(content))
    if any(request.META.get(header) for header in CONDITIONAL_HEADERS):
        last_modified = parse_http_date_safe(response.get("Last-Modified", ""))
        response = get_conditional_response(
            request, etag=response.get("ETag"), last_modified=last_modified, response=response
        )
    # How old this copy is, so that browsers and CDNs count its max-age from when it was made.
    response["Age"] = str(max(0, int((now - page["made_at"]).total_seconds())))
    response["X-Cache"] = outcome
    # One answer for every anonymous reader, whatever cookies they send: were the (empty) session's
    # reading to count, Django's session middleware would add "Vary: Cookie" and CDNs would keep a copy
    # per cookie. (A cookie that names no session is still deleted, on this answer alone.)
    if hasattr(request, "session"):
        request.session.accessed = False
    return response


class GZipMiddleware(django.middleware.gzip.GZipMiddleware):
    """Django's, for the pages the page cache did not answer (those come gzipped already), deciding
    with ``accepts_gzip`` as the page cache does."""

    def process_response(self, request, response):
        if response.has_header("Content-Encoding"):
            return response  # as Django's does, without reading Accept-Encoding again (a gzipped hit)
        # Django's own looks for "gzip" anywhere in the header (so "gzip;q=0" passed, and "*" failed):
        # it is handed our decision instead. Accept-Encoding is all it reads of the request.
        accepts = accepts_gzip(request.META.get("HTTP_ACCEPT_ENCODING", ""))
        decided = SimpleNamespace(META={"HTTP_ACCEPT_ENCODING": "gzip" if accepts else ""})
        return super().process_response(decided, response)


class HeadMiddleware:
    """Every answer to HEAD is the GET answer's status and headers without its body (RFC 9110, 9.3.2);
    and no 204 or 304 claims a length.

    Django's views answer HEAD as they answer GET, body included, and leave dropping it to the server:
    gunicorn then logs "WSGI app sent body bytes on a no-body response" for each. Outermost but the
    request log, so it holds for every path: kept pages, staff, the admin, errors. Content-Length still
    says how long the body would be. Django's CommonMiddleware gives a 304 "Content-Length: 0", which
    RFC 9110 (8.6) forbids unless it is the length of the 200's body: it is left out.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code in (204, 304):
            if response.has_header("Content-Length"):
                del response["Content-Length"]
        elif request.method == "HEAD":
            if response.streaming:
                response.streaming_content = []  # what it streamed from is closed with the response
            else:
                if not response.has_header("Content-Length"):
                    response["Content-Length"] = str(len(response.content))
                response.content = b""
        return response


def _cacheable(request):
    """What the requested page reads from its query string, if its answer may come from the cache or go
    into it (the cache on, a GET or HEAD, a page that is kept); else None."""
    if settings.PAGE_CACHE_SECONDS <= 0 or request.method not in ("GET", "HEAD"):
        return None
    return _query_of(request)


class Early(NamedTuple):
    """What PageCacheHitMiddleware read for a request it passed on, for PageCacheMiddleware to go on with."""

    address: str
    now: datetime.datetime
    lookup: Lookup | None  # None: the cache failed (and it was logged)


class PageCacheHitMiddleware:
    """Answers the fresh hits of readers with no session, before the session, common, CSRF and login
    middleware run: the most frequent answer of all, at the least cost.

    Placed right after GZipMiddleware. None of what it skips changes such an answer: with no session
    cookie there is no session to read, save or delete (nor a ``Vary: Cookie``, since it is never read),
    no one is logged in, no view runs (so no CSRF token is made, and none is checked on a GET or HEAD),
    and a path that resolves is never redirected by CommonMiddleware (it adds a slash only to paths that
    do not, and the site does not prepend www); a kept page already carries its ``Content-Length``. Any
    other request (a session cookie, a stale or missing page, a failing cache) goes on to
    PageCacheMiddleware with what was read here (``Early``, on the request), not read twice.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.SESSION_COOKIE_NAME in request.COOKIES:
            return self.get_response(request)
        query = _cacheable(request)
        if query is None or _is_personal(request, query):
            return self.get_response(request)
        _show_only_its_parameters(request, query)
        now = timezone.now()
        address = _address(request)
        try:
            lookup = _look_up(_page_key(address), now)
        except Exception as exc:
            logger.warning("Page cache unavailable, serving %s uncached: %s", request.path, exc)
            lookup = None
        if lookup is not None and lookup.page is not None:
            return _respond(request, lookup.page, now, "hit")
        request._page_cache_early = Early(address, now, lookup)
        return self.get_response(request)


def _address(request):
    return f"{request.scheme}://{request.get_host()}{request.get_full_path()}"


class PageCacheMiddleware:
    """Serves anonymous GET and HEAD requests from the cache; staff and forms always reach the view.

    Placed after AuthenticationMiddleware. It sees responses before the session and CSRF middleware add
    their cookies and ``Vary: Cookie``, so it checks their request flags itself (see
    ``_storable_seconds``). A view whose page goes stale at a known time without any write says so
    with ``Cache-Control: max-age``. Requests with no session cookie were looked up already by
    PageCacheHitMiddleware, which answered the fresh hits: the others arrive with what it read.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        early = request.__dict__.pop("_page_cache_early", None)
        if early is not None:
            if early.lookup is None:
                return self.get_response(request)  # the cache failed: said once already
            return self._serve(request, early.address, early.now, early.lookup)
        query = _cacheable(request)
        if query is None:
            return self.get_response(request)
        if not _is_anonymous(request):
            response = self.get_response(request)
            # Made for someone logged in: no shared cache may keep it and hand it to a visitor.
            patch_cache_control(response, private=True)
            return response
        if _is_personal(request, query):
            return self.get_response(request)
        _show_only_its_parameters(request, query)
        return self._serve(request, _address(request), timezone.now())

    def _serve(self, request, address, now, lookup=None):
        """The answer from the cache, or the view's (kept if it may be); ``lookup``: the page's, if read."""
        try:
            if lookup is None:
                lookup = _look_up(_page_key(address), now)
            outcome, page, lock = "hit", lookup.page, None
            if page is None:
                outcome = "stale"
                page, lock = _grace(lookup, now, may_rebuild=request.method == "GET")
                if page is not None and (remade := _wait_for_remake(lookup.key)) is not None:
                    outcome, page = "hit", remade
            if lock is not None:
                # Made by another request between that read and this lock (which it had just freed)?
                lookup = _look_up(lookup.key, now)
                outcome, page = "hit", lookup.page
            started = None
            if page is None:
                # Read before the view runs: the one read with the page will do (an earlier number only
                # makes the check of what the view showed stricter).
                started = lookup.sequence if lookup.sequence is not None else _sequence()
        except Exception as exc:
            logger.warning("Page cache unavailable, serving %s uncached: %s", request.path, exc)
            return self.get_response(request)
        try:
            if page is not None:
                return _respond(request, page, now, outcome)
            return self._make(request, lookup.key, started, now)
        finally:
            if lock is not None:
                _release(lock)

    def _make(self, request, key, started, now):
        """Runs the view, noting what its page shows; keeps the page unless something it shows was
        purged while it was being made (``started``: the purge sequence before the view ran)."""
        token = _versions_read.set({})
        try:
            return self._make_and_keep(request, key, started, now)
        finally:
            _versions_read.reset(token)

    def _make_and_keep(self, request, key, started, now):
        shown = Shown()
        token = _shown.set(shown)
        try:
            response = self.get_response(request)
        finally:
            _shown.reset(token)
        try:
            lifetime, edge_lifetime = _lifetimes(request, response, shown, now)
        except Exception as exc:
            logger.warning("Page cache: %s not stored: %r", request.path, exc)
            return response
        if lifetime <= 0:
            response["X-Cache"] = "miss"
            return response
        page = _make_page(response, now, lifetime, edge_lifetime, shown.keys)
        try:
            snapshot = _snapshot(shown.keys, started)
            if snapshot is not None:
                valid_until = now + datetime.timedelta(seconds=lifetime)
                # The cache server keeps it through the grace too: the copy readers get while it is remade.
                timeout = _timeout(valid_until - now) + GRACE_SECONDS
                cache.set(key, Kept(started, snapshot, valid_until, page, os.urandom(8)), timeout)
        except Exception as exc:
            logger.warning("Page cache: %s not stored: %r", request.path, exc)
        return _respond(request, page, now, "miss")
