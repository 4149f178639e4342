"""Faults and limits: the database out of reach, oversized input, errors, and the logs that tell."""

import io
import json
import logging
import re
import time
from unittest import mock

import pytest
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.http import HttpResponse
from django.test import Client
from django.urls import include, path, reverse

from articles.models import Article, Tag
from conclave.urls import handler500  # noqa: F401 -- the site's error handler, for this module's URLs
from tests.test_admin import ADD_URL, article_form


def broken_view(request):
    raise RuntimeError("secret detail: password=hunter2")


def logging_view(request):
    logging.getLogger("articles.test").warning("something worth a look")
    return HttpResponse("ok")


urlpatterns = [
    path("test/broken/", broken_view),
    path("test/logging/", logging_view),
    path("", include("conclave.urls")),
]


def request_lines(caplog):
    return [r for r in caplog.records if r.name == "conclave.requests"]


# Request ids and the request log.


@pytest.fixture
def request_log(caplog):
    caplog.set_level(logging.INFO, logger="conclave.requests")
    return caplog


def test_every_request_is_logged_once_with_its_id_status_and_duration(client, newsroom, request_log):
    response = client.get("/tags/")
    (line,) = request_lines(request_log)
    assert response["X-Request-ID"] == line.request_id
    assert len(line.request_id) == 32
    assert (line.method, line.path, line.status) == ("GET", "/tags/", 200)
    assert 0 < line.duration_ms < 10_000
    assert client.get("/no-such-page/")["X-Request-ID"] != line.request_id
    assert request_lines(request_log)[-1].status == 404


@pytest.mark.urls("tests.test_reliability")
def test_lines_logged_while_serving_a_request_carry_its_id(client, db, caplog):
    response = client.get("/test/logging/")
    record = next(r for r in caplog.records if r.name == "articles.test")
    assert record.request_id == response["X-Request-ID"]


def test_behind_the_proxy_its_request_id_is_kept_when_it_looks_like_one(client, db, settings):
    settings.BEHIND_TLS_PROXY = True
    assert client.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a.42")["X-Request-ID"] == "lb-7f3a.42"
    # Anything that could forge a log line or flood it is replaced.
    for hostile in ["a\nfake line", "x" * 65, "<script>", ""]:
        assert client.get("/healthz", HTTP_X_REQUEST_ID=hostile)["X-Request-ID"] != hostile
    settings.BEHIND_TLS_PROXY = False
    assert client.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a.42")["X-Request-ID"] != "lb-7f3a.42"


def json_formatter():
    from django.conf import settings

    from conclave.middleware import RequestIdFilter

    config = dict(settings.LOGGING["formatters"]["json"])
    factory = config.pop("()")
    module, _, name = factory.rpartition(".")
    formatter = getattr(__import__(module, fromlist=[name]), name)(**config)
    return formatter, RequestIdFilter()


def test_production_log_lines_are_json_with_a_traceback_for_errors():
    formatter, request_id = json_formatter()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(request_id)
    log = logging.getLogger("tests.json")
    log.addHandler(handler)
    try:
        log.warning("disk %s full", "/var", extra={"status": 503})
        try:
            1 / 0  # noqa: B018
        except ZeroDivisionError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "disk /var full" and first["level"] == "WARNING" and first["status"] == 503
    assert first["logger"] == "tests.json" and "request_id" in first and first["time"].endswith("+00:00")
    assert "ZeroDivisionError" in second["exc_info"]


@pytest.mark.urls("tests.test_reliability")
def test_an_error_shows_the_site_page_and_logs_the_traceback(db, caplog):
    reader = Client(raise_request_exception=False)
    response = reader.get("/test/broken/")
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong on our side" in page
    assert "hunter2" not in page and "Traceback" not in page and "RuntimeError" not in page
    error = next(r for r in caplog.records if r.name == "django.request")
    assert error.levelno == logging.ERROR and error.exc_info[0] is RuntimeError
    assert error.request_id == response["X-Request-ID"]


# The database out of reach.


def database_down():
    """Every new query fails as with PostgreSQL unreachable (the test's own transaction is left alone
    until the block ends)."""

    def refuse(self, *args, **kwargs):
        raise OperationalError('connection to server at "127.0.0.1", port 5432 failed: Connection refused')

    return mock.patch.object(BaseDatabaseWrapper, "cursor", refuse)


def test_with_the_database_down_readers_get_a_503_page_or_the_kept_page(newsroom, caplog):
    reader = Client(raise_request_exception=False)
    kept = newsroom[3][0].get_absolute_url()
    assert reader.get(kept).status_code == 200  # now in the page cache
    with database_down():
        assert reader.get(kept).status_code == 200
        responses = {
            url: reader.get(url)
            for url in ["/", "/tags/", newsroom[3][1].get_absolute_url(), "/search/?q=story"]
        }
    for url, response in responses.items():
        assert response.status_code == 503, url
        assert response["Retry-After"] == "30"
        assert response["Cache-Control"] == "no-store"
        page = response.content.decode()
        assert "We are back in a moment" in page
        assert "Connection refused" not in page and "5432" not in page
    assert any(r.name == "django.request" and r.exc_info for r in caplog.records)


def test_with_the_database_down_forms_and_staff_pages_answer_503(newsroom, editor):
    staff = Client(raise_request_exception=False)
    staff.force_login(editor)
    reader = Client(raise_request_exception=False)
    with database_down():
        assert staff.get(reverse("admin:index")).status_code == 503
        assert staff.get("/").status_code == 503  # the session and the login are in the database
        follow = reader.post(f"/tags/{newsroom[2].slug}/follow/", {"email": "reader@example.com"})
    assert follow.status_code == 503
    assert follow["Retry-After"] == "30"


def test_healthz_reports_the_database_down(client, db):
    with database_down():
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "unavailable"}


# Limits: oversized input gets a clear answer quickly and changes nothing.


def test_a_request_body_over_the_cap_is_refused_before_it_is_read(editor_client, settings):
    settings.MAX_REQUEST_BYTES = 50_000
    data = article_form(body="x" * 62_000)
    started = time.monotonic()
    response = editor_client.post(ADD_URL, data)
    assert response.status_code == 413
    assert re.fullmatch(
        r"The upload is too large: 6\d\.\d\sKB; the limit is 48\.8\sKB\.\n", response.content.decode()
    )
    assert time.monotonic() - started < 2
    assert not Article.objects.exists()


def form_errors(response):
    return {name: list(errors) for name, errors in response.context["adminform"].form.errors.items()}


def test_a_ten_megabyte_body_gets_a_form_error(editor_client):
    started = time.monotonic()
    response = editor_client.post(ADD_URL, article_form(body="word " * 2_000_000))
    assert response.status_code == 200
    assert form_errors(response)["body"] == [
        "Ensure this value has at most 200000 characters (it has 9999999)."
    ]
    assert time.monotonic() - started < 10
    assert not Article.objects.exists()


def test_a_hundred_thousand_character_title_gets_a_form_error(editor_client):
    response = editor_client.post(ADD_URL, article_form(title="T" * 100_000))
    assert response.status_code == 200
    (message,) = form_errors(response)["title"]
    assert "at most 200 characters" in message and "100000" in message
    assert not Article.objects.exists()


def test_ten_thousand_tags_get_a_form_error_and_create_none(editor_client):
    tags_before = Tag.objects.count()
    started = time.monotonic()
    response = editor_client.post(ADD_URL, article_form(tags=", ".join(f"tag {i}" for i in range(10_000))))
    assert response.status_code == 200
    assert form_errors(response)["tags"] == [
        "A story takes at most 20 tags; this one has 10,000. Keep the topics readers would follow."
    ]
    assert time.monotonic() - started < 10
    assert Tag.objects.count() == tags_before
    assert not Article.objects.exists()


def test_an_overlong_tag_gets_a_form_error(editor_client):
    response = editor_client.post(ADD_URL, article_form(tags="Chips, " + "x" * 101))
    assert response.status_code == 200
    (message,) = form_errors(response)["tags"]
    assert message.startswith("A tag is at most 100 characters;") and message.endswith("has 101.")
    assert not Article.objects.exists()


def test_image_work_is_stopped_after_its_time_limit(monkeypatch):
    from django.core.exceptions import ValidationError

    from articles import images
    from tests.factories import jpeg_upload

    monkeypatch.setattr(images, "IMAGE_TIME_LIMIT", 0.5)
    monkeypatch.setattr(images, "_prepare", lambda data, square: time.sleep(30))  # runs in the child
    started = time.monotonic()
    with pytest.raises(ValidationError) as info:
        images.prepare_upload(jpeg_upload())
    assert time.monotonic() - started < 3
    assert info.value.code == "too_slow"
    assert "took too long to process (over 0.5 seconds)" in info.value.messages[0]


def test_an_image_decoder_crash_is_a_form_error_not_a_dead_worker(monkeypatch):
    import os

    from django.core.exceptions import ValidationError

    from articles import images
    from tests.factories import jpeg_upload

    monkeypatch.setattr(images, "_prepare", lambda data, square: os._exit(11))  # as a segfault would
    with pytest.raises(ValidationError) as info:
        images.prepare_upload(jpeg_upload())
    assert info.value.code == "damaged"


def test_a_save_that_fails_midway_leaves_no_half_written_story(editor_client, monkeypatch):
    """Article, tags, renditions and revision are one transaction: a worker that dies after the tags
    are written (here: the revision fails) leaves the database as it was."""
    from articles.models import Revision
    from tests.factories import jpeg_upload

    def fail(*args, **kwargs):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(Revision, "record", fail)
    tags_before = Tag.objects.count()
    editor_client.raise_request_exception = False
    response = editor_client.post(
        ADD_URL, article_form(tags="Fresh tag, Another fresh tag", hero_image=jpeg_upload())
    )
    assert response.status_code == 500
    assert not Article.objects.exists()
    assert Tag.objects.count() == tags_before
    assert not Revision.objects.exists()


def test_a_tag_of_symbols_alone_gets_a_form_error(editor_client):
    response = editor_client.post(ADD_URL, article_form(tags="Chips, +"))
    assert form_errors(response)["tags"] == ["A tag needs a letter or a digit: “+” has none."]
    assert not Article.objects.exists()


def test_a_tag_made_elsewhere_from_symbols_still_has_an_address(db):
    first, second = Tag.objects.create(name="+"), Tag.objects.create(name="++")
    assert (first.slug, second.slug) == ("tag", "tag_1")
    assert first.get_absolute_url() == "/tags/tag/"


def test_forged_section_and_author_ids_get_form_errors_not_a_500(editor_client):
    response = editor_client.post(ADD_URL, article_form(section="<script>", authors=["1 OR 1=1", "x"]))
    assert response.status_code == 200
    errors = form_errors(response)
    assert "Select a valid choice" in errors["section"][0]
    assert "authors" in errors
    assert not Article.objects.exists()
