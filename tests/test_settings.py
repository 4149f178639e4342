"""Production refuses to start without its secrets, and passes Django's deployment checklist."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def manage(*args, **env):
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    clean_env.update(env, DJANGO_SETTINGS_MODULE="conclave.settings")
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_without_a_secret_key_refuses_to_start(tmp_path):
    # An empty value masks any local .env the developer may have.
    result = manage("check", DJANGO_DEBUG="false", DJANGO_SECRET_KEY="")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_production_settings_pass_check_deploy():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="k" * 20 + "a-long-random-production-secret-0123456789",
        DJANGO_ALLOWED_HOSTS="news.example.com",
        # The settings are under test, not the Redis server of the run (whose eviction policy has a
        # check of its own, in tests/test_pagecache.py): on CI's Redis that check rightly warns.
        CACHE_URL="locmemcache://",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_postgresql_and_redis_come_from_the_environment_with_persistent_connections():
    script = (
        "import json; from django.conf import settings as s; from django.db import connection; "
        "d = s.DATABASES['default']; "
        "print(json.dumps([d['ENGINE'], d['NAME'], d['CONN_MAX_AGE'], d['CONN_HEALTH_CHECKS'], "
        "connection.Database.__name__, s.CACHES['default']['BACKEND'], s.CACHES['default']['LOCATION']]))"
    )
    result = manage(
        "shell",
        "-c",
        script,
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="k" * 50,
        DATABASE_URL="postgres://news@db.internal:5432/conclave",
        CACHE_URL="redis://cache.internal:6379/2",
    )
    assert result.returncode == 0, result.stderr
    engine, name, max_age, health_checks, driver, cache_backend, cache_location = json.loads(
        result.stdout.splitlines()[-1]
    )
    assert (engine, name, driver) == ("django.db.backends.postgresql", "conclave", "psycopg")
    # Connections are kept between requests, and checked before reuse after a database restart.
    assert max_age == 60 and health_checks is True
    assert cache_backend == "django.core.cache.backends.redis.RedisCache"
    assert cache_location == "redis://cache.internal:6379/2"
