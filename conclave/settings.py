"""Conclave TechMedia settings: one file, driven by the environment (see README "Configuration").

Every variable has a safe embedded default for a laptop, except those that must never be guessed in
production: with DJANGO_DEBUG off, a missing DJANGO_SECRET_KEY stops start-up with a clear message.
"""

import datetime
from pathlib import Path
from urllib.parse import urlsplit

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from conclave import edgepurge, emailservice

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env (git-ignored; `make run` writes one with a generated secret key) is read if present;
# real environment variables always win over it.
env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. With DJANGO_DEBUG off the site refuses to start without a "
            "secret key from the environment. Generate one with: "
            "python -c 'from django.core.management.utils import get_random_secret_key as g; print(g())'"
        )
    # Local development only: a fixed, clearly insecure key so sessions survive the autoreloader.
    SECRET_KEY = "django-insecure-local-development-only"  # noqa: S105 -- never used with DEBUG off

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])

# Absolute links (canonical URLs, feeds, emails, social cards) are built from this, never from the
# request's Host header. Unset, it is this machine on PORT (what `make run` and `make serve` listen on).
SITE_URL = env.str("SITE_URL", default=f"http://127.0.0.1:{env.int('PORT', default=8000)}").rstrip("/")
SITE_NAME = "Conclave TechMedia"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sitemaps",
    "axes",
    "taggit",
    # Email services' APIs and webhooks, when EMAIL_SERVICE names one (conclave/emailservice.py).
    "anymail",
    "articles",
]

MIDDLEWARE = [
    "conclave.middleware.RequestLogMiddleware",
    # No answer to HEAD carries a body, whatever made it.
    "conclave.pagecache.HeadMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "conclave.middleware.RequestSizeLimitMiddleware",
    "conclave.middleware.UnstorableInputMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Compresses what the page cache did not (staff, forms, pages not kept); after WhiteNoise, which
    # serves its own precompressed files.
    "conclave.pagecache.GZipMiddleware",
    # The fresh page-cache hits of readers with no session, without the four below (they change
    # nothing in such an answer); everything else goes on to PageCacheMiddleware.
    "conclave.pagecache.PageCacheHitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "conclave.pagecache.PageCacheMiddleware",
    # Inside the page cache, so a kept page carries the policy it was made with.
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: a locked-out login attempt is answered before the login view runs.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "conclave.urls"
# Where the admin lives: somewhere else than /admin/ keeps it out of the way of scanners that try
# every site's /admin/ (the login throttling below is the real protection).
ADMIN_URL = env.str("DJANGO_ADMIN_URL", default="admin/").strip("/") + "/"
# Signing in is the admin's: with no `next`, or one Django refuses as unsafe (another site, //host,
# javascript:, a control character), land on its front page; Django's default, /accounts/profile/, is a 404.
LOGIN_REDIRECT_URL = "admin:index"
WSGI_APPLICATION = "conclave.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "articles.context_processors.site",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Seconds one database statement of a web request may run before PostgreSQL cancels it (applied by
# conclave/wsgi.py, so management commands are not limited; see conclave/database.py); 0: no limit.
DATABASE_STATEMENT_TIMEOUT = env.float("DATABASE_STATEMENT_TIMEOUT", default=3.0)

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
if CACHES["default"]["BACKEND"].endswith("LocMemCache"):
    # Django's default of 300 entries would evict the page cache's key versions (a page names dozens):
    # pages then made again for nothing.
    CACHES["default"].setdefault("OPTIONS", {}).setdefault("MAX_ENTRIES", 20_000)
# Anonymous pages are kept at most this long, and never past the next scheduled story's time.
PAGE_CACHE_SECONDS = env.int("PAGE_CACHE_SECONDS", default=300)

# The edge cache in front of the site, purged by surrogate key after each change (conclave/edgepurge.py):
# empty for none, varnish://host:port[,host:port…], fastly://<service id> or cloudflare://<zone id>. Their
# API tokens, FASTLY_API_TOKEN and CLOUDFLARE_API_TOKEN, are read from the environment at each purge and
# never kept in settings. A malformed URL, or an edge named without its token, stops start-up here.
EDGE_PURGE_URL = env.str("EDGE_PURGE_URL", default="")
FASTLY_API_URL = env.str("FASTLY_API_URL", default="https://api.fastly.com")
CLOUDFLARE_API_URL = env.str("CLOUDFLARE_API_URL", default="https://api.cloudflare.com/client/v4")
# How long the edge may keep a page when it is purged by key (above): exact purges make hours safe.
# Without one, edges keep pages no longer than PAGE_CACHE_SECONDS.
EDGE_CACHE_SECONDS = env.int("EDGE_CACHE_SECONDS", default=6 * 3600)
# Seconds one purge request may take, answer included.
EDGE_PURGE_TIMEOUT = env.float("EDGE_PURGE_TIMEOUT", default=edgepurge.TIMEOUT)
edgepurge.configure(
    EDGE_PURGE_URL, fastly_api=FASTLY_API_URL, cloudflare_api=CLOUDFLARE_API_URL, timeout=EDGE_PURGE_TIMEOUT
)

# How often an open live page asks for new updates, in whole seconds (articles/live.py, static/js/live.js):
# each poll of an unchanged fragment is a cache hit, mostly a 304. Tests make it short.
LIVE_POLL_SECONDS = env.int("LIVE_POLL_SECONDS", default=30)

vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
# Or through a service's API, batching where it can, with a bounce webhook (conclave/emailservice.py).
EMAIL_SERVICE = env.str("EMAIL_SERVICE", default="")
if EMAIL_SERVICE:
    vars().update(
        emailservice.configure(
            EMAIL_SERVICE,
            api_key=env.str("EMAIL_SERVICE_API_KEY", default=""),
            api_url=env.str("EMAIL_SERVICE_API_URL", default=""),
            webhook_secret=env.str("EMAIL_WEBHOOK_SECRET", default=""),
            signing_key=env.str("EMAIL_WEBHOOK_SIGNING_KEY", default=""),
        )
    )
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Conclave TechMedia <news@localhost>")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = env.str("MEDIA_URL", default="/media/")
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}


def s3_media_storage(env):
    """Uploads in an S3-compatible bucket through django-storages, configured by its own variable names.

    No credentials here: boto3 reads AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY from the environment, or
    uses the machine's role, so secrets never sit in settings (nor in anything that prints them).
    """

    def optional(name):
        # An empty value counts as unset, so `NAME=` can mask a value in .env.
        return env.str(name, default="") or None

    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": optional("AWS_S3_ENDPOINT_URL"),  # MinIO, Ceph, R2…; unset for AWS itself
            "region_name": optional("AWS_S3_REGION_NAME"),
            "custom_domain": optional("AWS_S3_CUSTOM_DOMAIN"),  # the CDN host readers fetch media from
            # A news site's pictures are public: plain links that browsers and CDNs can cache and share,
            # not signed ones that expire after an hour and differ on every render.
            "querystring_auth": False,
            # S3 would otherwise silently replace an earlier upload that happens to have the same name.
            "file_overwrite": False,
            # Safe to cache for good because a stored name never gets other bytes: an upload takes a
            # free name (file_overwrite above), renditions are named after their original, a replaced
            # image's new renditions are written before the old ones go, and the app never deletes an
            # original, so no name is ever freed for reuse (articles/images.py, Article.refresh_renditions).
            # Delete originals by hand only with a CDN purge.
            "object_parameters": {"CacheControl": "public, max-age=31536000, immutable"},
        },
    }


# Off: uploads in MEDIA_ROOT (one server). On: every app server shares one bucket (scaled out).
if env.str("AWS_STORAGE_BUCKET_NAME", default=""):
    STORAGES["default"] = s3_media_storage(env)

# Uploads: no request body may exceed MAX_REQUEST_BYTES (a 413 before anything reads it); form fields
# without files share a smaller cap. The image module (10 MB per image) and the article form (body,
# title and tag limits) have their own, tighter ones with messages for the editor.
MAX_REQUEST_BYTES = 32 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 15 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_PERMISSIONS = 0o644

TAGGIT_CASE_INSENSITIVE = True

# Security: on by default, relaxed only for local development (DEBUG) where there is no TLS.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_HSTS_PRELOAD", default=not DEBUG)
# Only behind a proxy that sets these headers itself; otherwise a client could forge them. Then the
# proxy's X-Forwarded-Proto says whether the visitor used HTTPS, its X-Forwarded-For who the visitor
# is (login throttling, follow limits, logs) and its X-Request-ID names the request in both logs.
BEHIND_TLS_PROXY = env.bool("DJANGO_BEHIND_TLS_PROXY", default=False)
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# No script reads the CSRF cookie: the admin's preview takes the token from its form.
CSRF_COOKIE_HTTPONLY = True


def media_origins(media_url, s3_endpoint):
    """Where article pictures come from besides this site: a CDN or bucket host, if media lives there."""
    origins = []
    for url in (media_url, s3_endpoint):
        parts = urlsplit(url or "")
        if parts.scheme and parts.netloc:
            origins.append(f"{parts.scheme}://{parts.netloc}")
    return origins


# Nothing is allowed unless named: the site's own scripts and styles (none of them inline: public pages
# carry only a JSON-LD data block, which is never executed), its own fetches (the admin's Markdown
# preview), and pictures from the site and its media storage only: a body's picture from another site
# becomes a link (articles/rendering.py), embeds show thumbnails stored here. No other site may frame a page.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF],
        "style-src": [SELF],
        "connect-src": [SELF],
        "img-src": [
            SELF,
            *media_origins(MEDIA_URL, STORAGES["default"].get("OPTIONS", {}).get("endpoint_url")),
        ],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        **({"upgrade-insecure-requests": True} if SECURE_SSL_REDIRECT else {}),
    }
}
# A news site needs none of the browser's powerful features; denying them means an injected frame or
# script cannot ask for them either. A page showing a video player (articles/embeds/) extends this for
# that page alone with the features its iframe asks for, to its origin only (articles/views.py).
PERMISSIONS_POLICY = dict.fromkeys(
    [
        "accelerometer",
        "autoplay",
        "browsing-topics",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "usb",
        "xr-spatial-tracking",
    ],
    [],
)

# Admin logins: after AXES_FAILURE_LIMIT failures an account is locked, from everywhere, and so is an
# address, for every account, until AXES_COOLOFF_TIME has passed without further failures. Attempts are
# kept in the database, so every app server counts the same ones; `manage.py axes_reset_username
# <name>` unlocks an editor at once.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = datetime.timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "conclave.middleware.client_ip"
AXES_LOCKOUT_CALLABLE = "conclave.lockout.login_locked_out"
AXES_VERBOSE = False

# One JSON object per line in production (with the request id, and status and duration for requests),
# plain text under DEBUG for people reading a terminal.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "conclave.middleware.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",  # ISO 8601, UTC, with microseconds
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": "text" if DEBUG else "json",
        }
    },
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
}
