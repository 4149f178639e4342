"""Security headers on every kind of answer, login throttling, the admin's address, the audit log."""

import datetime
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import html5lib
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from articles.models import Article
from tests.support.headers import content_security_policy as policy
from tests.support.production import check_deploy, manage

ROOT = Path(__file__).resolve().parent.parent
LOGIN_URL = reverse("admin:login")


def public_urls(newsroom):
    """{address: the status it must answer with}: every kind of public page, each of which the newsroom
    gives something to show, so each is a 200; and one address that matches no page, so that the 404 page
    is held to the same rules. Exact statuses: a page that started to answer 404 would otherwise pass."""
    section, author, tag, live = newsroom
    return {
        "/": 200,
        live[0].get_absolute_url(): 200,
        f"/sections/{section.slug}/": 200,
        f"/authors/{author.slug}/": 200,
        "/tags/": 200,
        f"/tags/{tag.slug}/": 200,
        "/search/?q=story": 200,
        f"/archive/{live[0].published_at:%Y/%m}/": 200,
        "/no-such-page/": 404,
    }


def assert_security_headers(response):
    csp = policy(response)
    assert csp["default-src"] == ["'none'"]  # objects, frames, fonts, media: none at all
    for directive in ("script-src", "style-src", "connect-src"):
        assert csp[directive] == ["'self'"], (directive, csp)
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert csp["form-action"] == ["'self'"]
    assert not any("unsafe" in source for sources in csp.values() for source in sources)
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    permissions = dict(item.split("=") for item in response["Permissions-Policy"].split(", "))
    for feature in ("camera", "microphone", "geolocation", "payment", "browsing-topics"):
        assert permissions[feature] == "()"


def test_public_pages_send_the_security_headers_made_and_from_the_cache(client, newsroom):
    for url, status in public_urls(newsroom).items():
        made = client.get(url)
        kept = client.get(url)
        assert made.status_code == status, url
        assert_security_headers(made)
        assert_security_headers(kept)
        if status == 200:
            assert kept["X-Cache"] == "hit", url


def test_admin_pages_send_the_security_headers(editor_client, newsroom):
    assert_security_headers(Client().get(LOGIN_URL))
    for url in [reverse("admin:index"), reverse("admin:articles_article_changelist")]:
        assert_security_headers(editor_client.get(url))
    assert_security_headers(
        editor_client.get(reverse("admin:articles_article_change", args=[newsroom[3][0].pk]))
    )


def inline_code(html):
    """Whatever a policy without 'unsafe-inline' would block: inline scripts (but data blocks), style
    elements and attributes, event-handler attributes, javascript: links."""
    found = []
    for element in html5lib.parse(html, namespaceHTMLElements=False).iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag == "script" and not element.get("src"):
            if element.get("type") != "application/ld+json":
                found.append(f"inline script: {(element.text or '')[:60]!r}")
            else:
                json.loads(element.text)  # a data block, and valid
        if element.tag == "style":
            found.append("style element")
        for name, value in element.attrib.items():
            if name == "style" or name.startswith("on"):
                found.append(f"{element.tag} {name}={value[:40]!r}")
            if name in ("href", "src", "action") and value.strip().lower().startswith("javascript:"):
                found.append(f"{element.tag} {name}={value[:40]!r}")
    return found


def test_inline_code_is_found_by_the_check():
    page = (
        '<script>alert(1)</script><script type="application/ld+json">{"a": 1}</script>'
        '<p style="color:red" onclick="x()"><a href=" javascript:x()">x</a></p><style>p{}</style>'
    )
    assert len(inline_code(page)) == 5


def test_no_page_needs_inline_script_or_style(editor_client, newsroom, article_with_image):
    """The policy allows neither; a page that had some would be broken in the browser. With a hero
    image, so its renditions, thumbnails and previews are on the pages too."""
    reader = Client()
    article = article_with_image
    # The sign-in page and the story with an image are there to be shown: 200, like every admin page.
    public = {**public_urls(newsroom), LOGIN_URL: 200, article.get_absolute_url(): 200}
    pages = [(reader.get(url), status) for url, status in public.items()]
    pages += [
        (editor_client.get(url), 200)
        for url in [
            reverse("admin:index"),
            reverse("admin:articles_article_changelist"),
            reverse("admin:articles_article_add"),
            reverse("admin:articles_article_change", args=[article.pk]),
            reverse("admin:articles_article_history", args=[article.pk]),
            reverse("admin:articles_subscriber_changelist"),
            reverse("admin:articles_tag_changelist"),
        ]
    ]
    for response, status in pages:
        assert response.status_code == status, response.wsgi_request.path
        assert inline_code(response.content.decode()) == [], response.wsgi_request.path


def production_settings(**env):
    """Settings as production loads them (DEBUG off), in a fresh interpreter."""
    script = (
        "import json; from django.conf import settings as s; "
        "names = ['SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', "
        "'SECURE_HSTS_PRELOAD', 'SECURE_PROXY_SSL_HEADER', 'SESSION_COOKIE_SECURE', "
        "'CSRF_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY', 'CSRF_COOKIE_HTTPONLY', "
        "'SESSION_COOKIE_SAMESITE', 'CSRF_COOKIE_SAMESITE']; "
        "print(json.dumps({n: getattr(s, n, None) for n in names}))"
    )
    result = manage("shell", "--verbosity", "0", "-c", script, DJANGO_SECRET_KEY="p" * 50, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_defaults_redirect_to_https_with_preload_ready_hsts_and_secure_cookies():
    values = production_settings(DJANGO_DEBUG="false")
    assert values["SECURE_SSL_REDIRECT"] is True
    # hstspreload.org asks for a year or more, includeSubDomains and preload.
    assert values["SECURE_HSTS_SECONDS"] >= 31536000
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_HSTS_PRELOAD"] is True
    assert values["SESSION_COOKIE_SECURE"] is values["CSRF_COOKIE_SECURE"] is True
    assert values["SESSION_COOKIE_HTTPONLY"] is values["CSRF_COOKIE_HTTPONLY"] is True
    assert values["SESSION_COOKIE_SAMESITE"] == values["CSRF_COOKIE_SAMESITE"] == "Lax"
    # The forwarded scheme is trusted only when the operator says a proxy sets it.
    assert values["SECURE_PROXY_SSL_HEADER"] is None
    behind = production_settings(DJANGO_DEBUG="false", DJANGO_BEHIND_TLS_PROXY="true")
    assert behind["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


@pytest.fixture
def behind_tls_proxy(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.BEHIND_TLS_PROXY = True


def test_behind_the_proxy_plain_http_is_redirected_and_https_gets_hsts(client, newsroom, behind_tls_proxy):
    plain = client.get("/tags/", HTTP_X_FORWARDED_PROTO="http")
    assert plain.status_code == 301
    assert plain["Location"] == "https://testserver/tags/"
    secure = client.get("/tags/", HTTP_X_FORWARDED_PROTO="https")
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


def test_a_forged_forwarded_scheme_is_ignored_without_a_proxy(client, newsroom, settings):
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/tags/", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 301


def test_check_deploy_is_clean_behind_the_proxy_too():
    result = check_deploy(
        DJANGO_ALLOWED_HOSTS="news.example.com",
        DJANGO_BEHIND_TLS_PROXY="true",
        DJANGO_ADMIN_URL="newsroom-desk/",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


# Login throttling (django-axes): per account and per address.


def login(client, username, password="wrong password", ip="203.0.113.7", **extra):  # noqa: S107
    return client.post(
        LOGIN_URL,
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=ip,
        **extra,
    )


def test_an_account_is_locked_after_five_failures_even_with_the_right_password(client, editor):
    for _ in range(4):
        assert login(client, "editor").status_code == 200  # the form again, with its error
    locked = login(client, "editor")
    assert locked.status_code == 429
    assert b"Too many failed sign-in attempts" in locked.content
    assert b"15 minutes" in locked.content
    assert b"Conclave TechMedia newsroom" in locked.content  # the admin's own page
    assert locked["Retry-After"] == "900"
    # From another address too: the account is what is being guessed.
    right = login(client, "editor", "correct horse battery", ip="198.51.100.9")
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session


def test_an_address_is_locked_after_five_failures_whatever_the_accounts(client, editor):
    for name in ["ann", "bob", "cy", "dee", "eve"]:
        login(client, name)
    assert login(client, "editor", "correct horse battery").status_code == 429
    # Another address still gets in.
    assert login(client, "editor", "correct horse battery", ip="198.51.100.9").status_code == 302


def test_the_lock_lifts_after_the_cool_off(client, editor, time_machine):
    for _ in range(5):
        login(client, "editor")
    assert login(client, "editor", "correct horse battery").status_code == 429
    time_machine.move_to(timezone.now() + datetime.timedelta(minutes=16))
    assert login(client, "editor", "correct horse battery").status_code == 302


def test_a_success_clears_earlier_failures(client, editor):
    for _ in range(4):
        login(client, "editor")
    assert login(client, "editor", "correct horse battery").status_code == 302
    client.logout()
    for _ in range(4):
        assert login(client, "editor").status_code == 200


def test_behind_the_proxy_each_visitor_is_counted_by_the_forwarded_address(client, editor, settings):
    settings.BEHIND_TLS_PROXY = True
    for i in range(5):
        login(client, f"user{i}", ip="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.1")
    # Same proxy, another visitor: not locked out with the first.
    ok = login(client, "editor", "correct horse battery", ip="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.2")
    assert ok.status_code == 302
    # A client cannot pick its own address by adding to the header: the proxy's last entry counts.
    forged = login(
        client, "editor", "correct horse battery", ip="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.2, 192.0.2.1"
    )
    assert forged.status_code == 429


def test_without_a_proxy_the_forwarded_header_is_not_trusted(client, editor):
    for i in range(5):
        login(client, f"user{i}", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}")
    assert (
        login(client, "editor", "correct horse battery", HTTP_X_FORWARDED_FOR="192.0.2.99").status_code == 429
    )


def test_the_admin_lives_where_the_environment_says(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DJANGO_ADMIN_URL="/newsroom-desk/",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        CACHE_URL="locmemcache://",
    )
    script = (
        "import django, json; django.setup(); from django.core.management import call_command; "
        "call_command('migrate', verbosity=0); "
        "from django.test import Client; from django.test.utils import setup_test_environment; "
        "setup_test_environment(); from django.urls import reverse; c = Client(); "
        "print(json.dumps([reverse('admin:index'), c.get('/newsroom-desk/login/').status_code, "
        "c.get('/admin/login/').status_code, c.get('/newsroom-desk/login/').get('X-Cache')]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    index, new_login, old_login, cache_state = json.loads(result.stdout.strip().splitlines()[-1])
    assert index == "/newsroom-desk/"
    assert new_login == 200
    assert old_login == 404
    assert cache_state is None  # the page cache leaves the moved admin alone, as it did /admin/


# Every publish, unpublish and delete is logged with who did it.


def audit_lines(caplog):
    return [(r.action, r.article_id, r.username, r.via) for r in caplog.records if r.name == "articles.audit"]


@pytest.fixture
def audit_log(caplog):
    caplog.set_level(logging.INFO, logger="articles.audit")
    return caplog


def test_publish_and_unpublish_actions_are_logged_with_the_editor(
    editor_client, newsroom, audit_log, django_capture_on_commit_callbacks
):
    draft = Article.objects.get(title="Draft story")
    live = newsroom[3][0]
    url = reverse("admin:articles_article_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        editor_client.post(url, {"action": "publish", "_selected_action": [draft.pk]})
        editor_client.post(url, {"action": "unpublish", "_selected_action": [live.pk]})
    assert audit_lines(audit_log) == [
        ("publish", draft.pk, "editor", "admin"),
        ("unpublish", live.pk, "editor", "admin"),
    ]


def test_publishing_from_the_form_is_logged_but_an_edit_is_not(
    editor_client, newsroom, audit_log, django_capture_on_commit_callbacks
):
    from tests.test_admin import article_form

    draft = Article.objects.get(title="Draft story")
    url = reverse("admin:articles_article_change", args=[draft.pk])
    form = article_form(title="Draft story", slug=draft.slug)
    with django_capture_on_commit_callbacks(execute=True):
        editor_client.post(url, {**form, "title": "Draft story, edited", "status": "draft"})
        tomorrow = timezone.localtime() + datetime.timedelta(days=1)
        scheduled = editor_client.post(
            url,
            {
                **form,
                "status": "published",
                "published_at_0": tomorrow.strftime("%Y-%m-%d"),
                "published_at_1": tomorrow.strftime("%H:%M:%S"),
            },
        )
    assert scheduled.status_code == 302
    assert audit_lines(audit_log) == [("publish", draft.pk, "editor", "admin")]
    record = next(r for r in audit_log.records if r.name == "articles.audit")
    assert record.slug == draft.slug and record.user_id is not None
    # A scheduled story is logged when the editor schedules it, with the time it goes live.
    assert record.published_at.startswith(tomorrow.astimezone(datetime.UTC).strftime("%Y-%m-%d"))


def test_deleting_is_logged_one_line_per_story(
    editor_client, newsroom, audit_log, django_capture_on_commit_callbacks
):
    first, second, third = newsroom[3]
    with django_capture_on_commit_callbacks(execute=True):
        editor_client.post(reverse("admin:articles_article_delete", args=[first.pk]), {"post": "yes"})
        editor_client.post(
            reverse("admin:articles_article_changelist"),
            {"action": "delete_selected", "_selected_action": [second.pk, third.pk], "post": "yes"},
        )
    assert not Article.objects.filter(pk__in=[first.pk, second.pk, third.pk]).exists()
    assert sorted(audit_lines(audit_log)) == sorted(
        [("delete", a.pk, "editor", "admin") for a in (first, second, third)]
    )


def test_a_failed_save_logs_nothing(editor_client, newsroom, audit_log, monkeypatch):
    """The line is written on commit: a publish that rolled back did not happen."""
    from articles.models import Revision

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(Revision, "record", broken)
    draft = Article.objects.get(title="Draft story")
    editor_client.raise_request_exception = False
    response = editor_client.post(
        reverse("admin:articles_article_changelist"), {"action": "publish", "_selected_action": [draft.pk]}
    )
    assert response.status_code == 500
    assert Article.objects.get(pk=draft.pk).status == "draft"
    assert audit_lines(audit_log) == []


def test_an_import_that_publishes_is_logged(tmp_path, db, audit_log, django_capture_on_commit_callbacks):
    from articles import importing

    story = tmp_path / "story.md"
    story.write_text("---\ntitle: Imported story\nstatus: published\n---\nBody text.\n", encoding="utf-8")
    with django_capture_on_commit_callbacks(execute=True):
        article, outcome = importing.import_file(story)
    assert outcome == "created"
    assert audit_lines(audit_log) == [("publish", article.pk, None, "import_markdown")]


def test_pictures_come_from_the_site_and_its_media_only(client, db):
    policy = client.get("/").headers["Content-Security-Policy"]
    img_src = next(part for part in policy.split(";") if part.strip().startswith("img-src"))
    assert img_src.split()[1:] == ["'self'"]  # local media: the site's own origin
