"""Start-up checks of the deployment (run by ``manage.py check``, ``migrate`` and so ``make serve``).

The page cache writes an entry per page and query it is asked for: however its keys are bounded, only
the cache server can keep their total within its memory. Redis does so only when told to evict (a
``maxmemory`` and an ``allkeys-*`` policy); by default it refuses writes once full, or grows until the
machine runs out of memory. A warning, not an error: managed Redis services often refuse ``CONFIG``
(their settings page says), and the site still runs.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Tags, Warning, register

REDIS_BACKEND = "django.core.cache.backends.redis.RedisCache"
# Seconds to wait for an answer: a check must never hang start-up on an unreachable server.
REDIS_TIMEOUT = 2


def _servers(location):
    if isinstance(location, str):
        return [server for server in location.replace(";", ",").split(",") if server]
    return list(location)


def _redacted(url):
    """The server's address without its password, for a message that ends up in logs."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}{parts.path}"


@register(Tags.caches)
def redis_evicts(app_configs, **kwargs):
    import redis

    warnings = []
    for alias, config in settings.CACHES.items():
        if config.get("BACKEND") != REDIS_BACKEND:
            continue
        for url in _servers(config.get("LOCATION", "")):
            where = f"cache {alias!r} ({_redacted(url)})"
            client = redis.Redis.from_url(
                url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT
            )
            try:
                found = client.config_get("maxmemory*")
            except redis.RedisError as exc:
                warnings.append(
                    Warning(
                        f"Could not read the eviction settings of {where}: {exc}.",
                        hint="Make sure it runs with maxmemory set and maxmemory-policy allkeys-lru "
                        "(managed services: in their settings; see README, Deployment, Page cache).",
                        id="conclave.W003",
                    )
                )
                continue
            finally:
                client.close()
            policy = found.get("maxmemory-policy", "")
            if not policy.startswith("allkeys-"):
                warnings.append(
                    Warning(
                        f"{where} has maxmemory-policy {policy!r}: once full it refuses writes (or "
                        "evicts only keys with an expiry), and the page cache stops keeping pages.",
                        hint="Set maxmemory-policy allkeys-lru in redis.conf (or CONFIG SET).",
                        id="conclave.W001",
                    )
                )
            if found.get("maxmemory", "0") == "0":
                warnings.append(
                    Warning(
                        f"{where} has no maxmemory: it never evicts, and grows until the machine runs "
                        "out of memory.",
                        hint="Set maxmemory (e.g. 256mb) in redis.conf, with maxmemory-policy allkeys-lru.",
                        id="conclave.W002",
                    )
                )
    return warnings


@register(Tags.security, deploy=True)
def email_bounces_reach_us(app_configs, **kwargs):
    """Through an email service, bounces and complaints arrive only by its webhook, which is served only
    with a secret (articles/following/bounces.py): without one, nobody is ever suppressed."""
    if getattr(settings, "EMAIL_SERVICE", "") and not getattr(settings, "ANYMAIL", {}).get("WEBHOOK_SECRET"):
        return [
            Warning(
                f"EMAIL_SERVICE={settings.EMAIL_SERVICE} without EMAIL_WEBHOOK_SECRET: bounces and "
                "complaints are not received, so addresses that bounce or complain keep being mailed.",
                hint="Set EMAIL_WEBHOOK_SECRET to user:password and give the service the webhook "
                f"https://user:password@<your site>/anymail/{settings.EMAIL_SERVICE}/tracking/ (README).",
                id="conclave.W004",
            )
        ]
    return []
