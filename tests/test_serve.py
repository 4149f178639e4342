"""`make serve`, for real: gunicorn with the repo's config, DEBUG off, the pages and static files a
browser or CDN would get. One server for the module, on a free port of 127.0.0.1, stopped by its PID."""

import gzip
import json
import os
import re
import runpy
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
SEED_URL = "/news/openai-foxconn-collaboration-ai-supply-chain-us-data-center-components/"
# Straight to the server, whatever proxy the environment names.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_env(tmp, port, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "AWS_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="conclave.settings",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="serve-test-" + "x" * 40,
        DJANGO_SECURE_SSL_REDIRECT="false",  # as make serve: plain HTTP on 127.0.0.1
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        MEDIA_ROOT=str(tmp / "media"),
        GUNICORN_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="2",
        **extra,
    )
    return env


def start_gunicorn(env, log):
    with log.open("w") as out:
        return subprocess.Popen(
            [str(GUNICORN), "--config", "conclave/gunicorn.conf.py", "conclave.wsgi"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_until_up(server, base, log, path):
    deadline = time.monotonic() + 30
    while True:
        try:
            DIRECT.open(base + path, timeout=2).close()
            return
        except urllib.error.HTTPError as answer:
            answer.close()  # it holds the connection open
            return  # answering, if not with a 200
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"gunicorn did not start:\n{log.read_text()}")
            time.sleep(0.2)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The site as `make serve` runs it: collectstatic, migrate, then gunicorn (two workers)."""
    tmp = tmp_path_factory.mktemp("serve")
    port = free_port()
    env = server_env(tmp, port, DATABASE_URL=f"sqlite:///{tmp / 'db.sqlite3'}", CACHE_URL="locmemcache://")

    def manage(*args):
        subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True
        )

    manage("collectstatic", "--no-input")
    manage("migrate", "--no-input")
    manage("load_demo")
    log = tmp / "gunicorn.log"
    server = start_gunicorn(env, log)
    base = f"http://127.0.0.1:{port}"
    wait_until_up(server, base, log, "/healthz")
    yield base, log
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)


def get(url, **headers):
    try:
        return DIRECT.open(urllib.request.Request(url, headers=headers), timeout=10)  # noqa: S310 -- our http://127.0.0.1
    except urllib.error.HTTPError as error:
        return error


def test_the_workers_default_to_the_cpu_count(monkeypatch):
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    config = runpy.run_path(str(ROOT / "conclave" / "gunicorn.conf.py"))
    assert config["workers"] == 2 * len(os.sched_getaffinity(0)) + 1
    assert config["timeout"] > 0
    # The site logs each request itself (JSON, with its id); gunicorn's own lines go to stdout.
    assert config["accesslog"] is None and config["errorlog"] == "-"


def test_pages_are_served_by_gunicorn_with_debug_off(served):
    base, log = served
    first = get(base + SEED_URL)
    assert first.status == 200 and first.headers["Server"] == "gunicorn"
    assert first.headers["X-Cache"] == "miss"
    second = get(base + SEED_URL, **{"Accept-Encoding": "gzip"})
    body = gzip.decompress(second.read()).decode()
    assert "OpenAI" in body
    assert second.headers["Content-Encoding"] == "gzip"
    # Hit or miss (each worker has its own local-memory cache here), browsers and CDNs are told the same.
    assert "public" in second.headers["Cache-Control"] and "s-maxage" in second.headers["Cache-Control"]
    missing = get(base + "/news/no-such-story/")
    assert missing.status == 404
    assert "We could not find that page" in missing.read().decode()  # the site's page, not a traceback


def test_static_files_have_hashed_names_compressed_bodies_and_far_future_caching(served):
    base, _ = served
    page = get(base + "/").read().decode()
    stylesheet = re.search(r'href="(/static/css/[^"]+\.[0-9a-f]{12}\.css)"', page)
    assert stylesheet, "the stylesheet link carries a content hash"
    response = get(base + stylesheet.group(1), **{"Accept-Encoding": "gzip"})
    assert response.status == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Cache-Control"] == "max-age=315360000, public, immutable"


def log_lines(log):
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def test_every_request_is_logged_as_json_with_its_id_status_and_duration(served):
    base, log = served
    path = f"/no-such-page-{uuid.uuid4().hex}/"
    response = get(base + path)
    assert response.status == 404
    time.sleep(0.5)  # written by the worker as the response goes out
    (line,) = [line for line in log_lines(log) if line.get("path") == path]
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert line["status"] == 404 and line["method"] == "GET" and line["duration_ms"] > 0
    assert line["level"] == "INFO" and line["logger"] == "conclave.requests"
    # gunicorn's own messages are JSON lines in the same stream.
    assert any(
        line.get("logger") == "gunicorn.error" and "Booting worker" in line["message"]
        for line in log_lines(log)
    )


def test_with_the_database_unreachable_pages_are_a_503_and_healthz_says_so(served, tmp_path):
    """A second server whose PostgreSQL is a closed port: nothing listens there."""
    port, closed = free_port(), free_port()
    env = server_env(
        tmp_path,
        port,
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{closed}/conclave",
        CACHE_URL="locmemcache://",
    )
    log = tmp_path / "gunicorn.log"
    server = start_gunicorn(env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(server, base, log, "/static/css/site.css")
        page = get(base + "/")
        assert page.status == 503
        assert page.headers["Retry-After"] == "30"
        body = page.read().decode()
        assert "We are back in a moment" in body and str(closed) not in body and "Traceback" not in body
        health = get(base + "/healthz")
        assert health.status == 503
        assert json.loads(health.read()) == {"status": "error", "database": "unavailable"}
        assert get(base + "/static/css/site.css").status == 200  # static files need no database
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    # The traceback goes to the log (the health check's own 503 is logged without one: nothing raised).
    errors = {
        line["message"]: line.get("exc_info", "")
        for line in log_lines(log)
        if line["logger"] == "django.request"
    }
    assert "OperationalError" in errors["Service Unavailable: /"]


FORWARDED_HTTPS = [
    {"X-Forwarded-Proto": "https"},
    {"X-Forwarded-Ssl": "on"},
    {"X-Forwarded-Protocol": "ssl"},
]


@pytest.mark.parametrize("forwarded", FORWARDED_HTTPS, ids=lambda headers: next(iter(headers)))
def test_forwarded_headers_do_not_make_a_request_https_without_the_proxy_setting(served, forwarded):
    """DJANGO_BEHIND_TLS_PROXY is off: a client on 127.0.0.1 saying "this was HTTPS" is not believed
    (no HSTS, no https:// cache key of its own)."""
    base, _ = served
    page = get(f"{base}/tags/?forwarded={uuid.uuid4().hex}", **forwarded)
    assert page.status == 200
    assert "Strict-Transport-Security" not in page.headers


def test_behind_the_proxy_only_its_x_forwarded_proto_counts(served, tmp_path):
    """A second server with the setting on (its static files are those `served` collected)."""
    port = free_port()
    env = server_env(
        tmp_path,
        port,
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        CACHE_URL="locmemcache://",
        DJANGO_BEHIND_TLS_PROXY="true",
    )
    log = tmp_path / "gunicorn.log"
    server = start_gunicorn(env, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(server, base, log, "/static/css/site.css")
        assert "Strict-Transport-Security" in get(f"{base}/robots.txt", **FORWARDED_HTTPS[0]).headers
        for other in FORWARDED_HTTPS[1:]:
            assert "Strict-Transport-Security" not in get(f"{base}/robots.txt", **other).headers, other
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
