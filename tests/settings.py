"""Settings for the test run: the project's own, with fast and isolated pieces swapped in.

DATABASE_URL and CACHE_URL still come from the environment, so the same suite runs on SQLite with a
local-memory cache (`make test`) and on PostgreSQL with Redis (the second half of `.ci/run`).
"""

import atexit
import os
import shutil
import tempfile
from urllib.parse import urlsplit

os.environ.setdefault("DJANGO_SECRET_KEY", "tests-only-not-a-secret")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")

from conclave.settings import *  # noqa: E402,F403


def _redis_database_moved(url, offset):
    """``redis://host:port/N`` with database N + offset (Redis has 16 unless configured otherwise)."""
    parts = urlsplit(url)
    return parts._replace(path=f"/{int(parts.path.strip('/') or 0) + offset}").geturl()


PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
MEDIA_ROOT = tempfile.mkdtemp(prefix="conclave-test-media-")
# Gone when the run ends (forked children leave through os._exit, so only the process that made it).
atexit.register(shutil.rmtree, MEDIA_ROOT, ignore_errors=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
SITE_URL = "https://news.example.com"
# Serve static files from the app folders, as under DEBUG: the test run has no collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
if CACHES["default"]["BACKEND"].endswith("RedisCache"):  # noqa: F405
    # Keep test keys apart from anything else living in the same Redis database.
    CACHES["default"]["KEY_PREFIX"] = "conclave-tests"  # noqa: F405
    # Each pytest-xdist worker (gw0, gw1...) gets a database of its own, the one CACHE_URL names plus
    # its number: every test starts with cache.clear(), which empties the whole database.
    _worker_number = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    CACHES["default"]["LOCATION"] = _redis_database_moved(CACHES["default"]["LOCATION"], _worker_number)  # noqa: F405
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # The in-memory test database is one shared cache, and SQLite's shared cache locks whole tables: a
    # page the live server made while a test was writing failed at once with "database table is locked"
    # (a 503 to a browser test's poll, whose script then backed off past the test's wait). Readers that
    # take no table locks are never turned away by a writer, as on PostgreSQL, though they may see rows
    # not yet committed; no test reads its own writes that way. A real SQLite file is unaffected.
    DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = "PRAGMA read_uncommitted = 1"  # noqa: F405
# Embeds: only hosts mapped by EMBEDS_TEST_RESOLVE (a test's fake server) are reached; every other is
# refused without a DNS lookup, so no test reaches the network (articles/embeds/fetching.py).
TESTING = True
EMBEDS_TEST_RESOLVE = {}
