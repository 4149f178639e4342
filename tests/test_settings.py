"""Production refuses to start without its secrets, and passes Django's deployment checklist."""

import json

from tests.support.production import check_deploy, manage


def test_production_without_a_secret_key_refuses_to_start(tmp_path):
    # An empty value masks any local .env the developer may have.
    result = manage("check", DJANGO_DEBUG="false", DJANGO_SECRET_KEY="")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_production_settings_pass_check_deploy():
    result = check_deploy(DJANGO_ALLOWED_HOSTS="news.example.com")
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


def test_an_email_service_from_the_environment_with_its_webhook_checked():
    script = (
        "import json; from django.conf import settings as s; print(json.dumps([s.EMAIL_BACKEND, s.ANYMAIL]))"
    )
    service = {
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "k" * 50,
        "EMAIL_SERVICE": "mailgun",
        "EMAIL_SERVICE_API_KEY": "key-123",
        "EMAIL_SERVICE_API_URL": "https://api.eu.mailgun.net/v3",
        "EMAIL_WEBHOOK_SECRET": "hook:s3cret",
        "EMAIL_WEBHOOK_SIGNING_KEY": "signing-123",
    }
    result = manage("shell", "-c", script, **service)
    assert result.returncode == 0, result.stderr
    backend, anymail = json.loads(result.stdout.splitlines()[-1])
    assert backend == "anymail.backends.mailgun.EmailBackend"
    assert anymail == {
        "MAILGUN_API_KEY": "key-123",
        "MAILGUN_API_URL": "https://api.eu.mailgun.net/v3",
        "WEBHOOK_SECRET": "hook:s3cret",
        "MAILGUN_WEBHOOK_SIGNING_KEY": "signing-123",
    }
    # Without a webhook secret, the deployment check says bounces will not be received.
    del service["EMAIL_WEBHOOK_SECRET"]
    result = check_deploy(DJANGO_ALLOWED_HOSTS="news.example.com", **service)
    assert "conclave.W004" in result.stdout + result.stderr
    result = manage("check", **{**service, "EMAIL_SERVICE": "mailchimp"})
    assert result.returncode != 0 and "EMAIL_SERVICE='mailchimp' is not one of" in result.stderr
