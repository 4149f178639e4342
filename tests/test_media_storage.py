"""Media on S3-compatible storage, for real: a moto S3 server on 127.0.0.1, spoken to over HTTP.

Editors upload through the admin; the original and its renditions land in the bucket; the public page
links straight to the bucket (or the CDN host), and those links serve the pictures.

CI's `.ci/run` starts one moto server for its PostgreSQL run and names it in S3_TEST_ENDPOINT_URL;
otherwise the session starts its own, in-process, on a free port. Every test gets a bucket of its own,
so runs sharing one server never see each other's files.
"""

import io
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import environ
import html5lib
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from articles import images
from articles.admin.library import ImageAdmin
from articles.models import Article
from articles.models import Image as LibraryImage
from conclave.settings import s3_media_storage
from tests.factories import jpeg_upload
from tests.support.production import PRODUCTION_ENV
from tests.test_admin import ADD_URL, IMAGE_ADD_URL, article_form, image_form

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
CACHE_CONTROL = "public, max-age=31536000, immutable"
CONTENT_TYPES = {".jpg": "image/jpeg", ".webp": "image/webp", ".avif": "image/avif", ".png": "image/png"}
# Straight to the server, whatever proxy the environment names: this traffic never leaves the machine.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture(scope="session")
def s3_endpoint():
    url = os.environ.get("S3_TEST_ENDPOINT_URL", "").rstrip("/")
    if url:
        if urlsplit(url).hostname not in LOOPBACK:
            pytest.fail(f"S3_TEST_ENDPOINT_URL must be a local test server, not {url}")
        yield url
        return
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@dataclass
class Bucket:
    name: str
    endpoint: str
    client: object

    @property
    def base_url(self):
        return f"{self.endpoint}/{self.name}/"

    def names(self):
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name)
        return {item["Key"] for page in pages for item in page.get("Contents", ())}

    def key_of(self, url):
        assert url.startswith(self.base_url), url
        return url[len(self.base_url) :]


@pytest.fixture
def s3_env(s3_endpoint, monkeypatch):
    """The environment a deployment would set, with fake credentials and nothing from the real one."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    bucket = f"conclave-test-{uuid.uuid4().hex}"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # No shared config or credentials files, no instance-metadata lookups: only 127.0.0.1 is spoken to.
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    monkeypatch.setenv("AWS_STORAGE_BUCKET_NAME", bucket)
    monkeypatch.setenv("AWS_S3_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_S3_REGION_NAME", "us-east-1")
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    # As a deployment must: readers fetch the plain links anonymously (a private bucket answers 403).
    public_read = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/*",
            }
        ],
    }
    client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(public_read))
    stored = Bucket(bucket, s3_endpoint, client)
    yield stored
    # Leave a shared server as we found it.
    for key in stored.names():
        client.delete_object(Bucket=bucket, Key=key)
    client.delete_bucket(Bucket=bucket)


@pytest.fixture
def s3_media(s3_env, settings, tmp_path):
    """Media on the bucket, configured exactly as conclave/settings.py does from the environment."""
    # An empty folder of its own that must stay empty: everything goes through the storage API.
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_ROOT.mkdir()
    settings.STORAGES = {**settings.STORAGES, "default": s3_media_storage(environ.Env())}
    return s3_env


def local_files(settings):
    return list(Path(settings.MEDIA_ROOT).rglob("*"))


def fetch(url):
    assert urlsplit(url).hostname in LOOPBACK, url
    try:
        with DIRECT.open(url, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def srcset_urls(value):
    return [candidate.split()[0] for candidate in value.split(",") if candidate.strip()]


def page_image_urls(content):
    """Every media URL the public article page hands to browsers, crawlers and social networks."""
    doc = html5lib.parse(content, namespaceHTMLElements=False)
    urls = []
    for img in doc.iterfind(".//figure[@class='hero']//img"):
        urls += [img.get("src"), *srcset_urls(img.get("srcset"))]
    for source in doc.iterfind(".//figure[@class='hero']//source"):
        urls += srcset_urls(source.get("srcset"))
    for link in doc.iterfind(".//link[@rel='preload']"):
        urls += srcset_urls(link.get("imagesrcset"))
    urls += [meta.get("content") for meta in doc.iterfind(".//meta[@property='og:image']")]
    return urls


def rendition_names(image):
    return set(images.rendition_names(image.renditions))


def upload_to_library(client, upload, capture, url=IMAGE_ADD_URL):
    admin_post(client, url, image_form(upload), capture)
    return LibraryImage.objects.latest("pk")


def admin_post(client, url, data, capture):
    with capture(execute=True):  # what runs on commit (the page cache's generation bump) runs
        response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    return response


def assert_served_from_bucket(bucket, url):
    """The URL answers 200 with the picture itself, typed and cacheable as stored."""
    status, headers, body = fetch(url)
    assert status == 200, url
    suffix = Path(urlsplit(url).path).suffix
    assert headers["Content-Type"] == CONTENT_TYPES[suffix], url
    assert headers["Cache-Control"] == CACHE_CONTROL, url
    with Image.open(io.BytesIO(body)) as im:
        assert im.format == {".jpg": "JPEG", ".webp": "WEBP", ".avif": "AVIF", ".png": "PNG"}[suffix]
        assert url.endswith(f"-{im.width}{suffix}"), (url, im.size)  # rendition names carry their width


def test_admin_upload_lands_in_the_bucket_and_the_page_links_to_it(
    editor_client, s3_media, settings, django_capture_on_commit_callbacks
):
    hero = upload_to_library(
        editor_client, jpeg_upload("Plant at dawn.JPG"), django_capture_on_commit_callbacks
    )
    admin_post(editor_client, ADD_URL, article_form(hero=hero.pk), django_capture_on_commit_callbacks)

    article = Article.objects.get(slug="chip-plant-opens")
    original = hero.file.name
    assert original.startswith("library/") and original.endswith("/plant-at-dawn.jpg")
    assert [size["width"] for size in hero.renditions["sizes"]] == [480, 800, 1200, 1600]
    renditions = rendition_names(hero)
    assert len(renditions) == 4 * len(images.RENDITION_FORMATS)
    assert s3_media.names() == {original} | renditions
    assert local_files(settings) == []
    stored = s3_media.client.head_object(Bucket=s3_media.name, Key=original)
    assert (stored["ContentType"], stored["CacheControl"]) == ("image/jpeg", CACHE_CONTROL)

    page = Client().get(article.get_absolute_url())
    assert page.status_code == 200
    urls = page_image_urls(page.content)
    # Plain, unsigned links to the bucket: cacheable and the same on every render.
    assert all(url.startswith(s3_media.base_url) and "?" not in url for url in urls), urls
    assert {s3_media.key_of(url) for url in urls} == renditions  # every size, in every format
    for url in set(urls):
        assert_served_from_bucket(s3_media, url)

    # The editor's thumbnail in the admin comes from the bucket too.
    change_page = editor_client.get(reverse("admin:articles_article_change", args=[article.pk]))
    assert f'src="{s3_media.base_url}' in change_page.content.decode()


def test_replacing_then_clearing_the_image_in_the_admin(
    editor_client, s3_media, settings, django_capture_on_commit_callbacks
):
    first = upload_to_library(editor_client, jpeg_upload(), django_capture_on_commit_callbacks)
    admin_post(
        editor_client,
        ADD_URL,
        article_form(hero=first.pk, status="draft"),
        django_capture_on_commit_callbacks,
    )
    article = Article.objects.get()
    first_original, first_renditions = first.file.name, rendition_names(first)
    first_etag = s3_media.client.head_object(Bucket=s3_media.name, Key=first_original)["ETag"]
    image_url = reverse("admin:articles_image_change", args=[first.pk])

    # Same upload name, different picture: it gets names of its own; nothing stored is overwritten.
    replacement = jpeg_upload(size=(1000, 600), colour=(200, 40, 40))
    second = upload_to_library(editor_client, replacement, django_capture_on_commit_callbacks, url=image_url)
    assert second.pk == first.pk
    second_original, second_renditions = second.file.name, rendition_names(second)
    assert second_original != first_original
    assert not second_renditions & first_renditions
    assert [size["width"] for size in second.renditions["sizes"]] == [480, 800, 1000]
    # The old renditions are deleted; the old original stays (the app never deletes originals).
    assert s3_media.names() == {first_original, second_original} | second_renditions
    assert s3_media.client.head_object(Bucket=s3_media.name, Key=first_original)["ETag"] == first_etag
    for name in first_renditions:
        assert fetch(s3_media.base_url + name)[0] == 404

    urls = page_image_urls(editor_client.get(article.get_absolute_url()).content)  # the draft's preview
    assert {s3_media.key_of(url) for url in urls} == second_renditions
    for url in set(urls):
        assert_served_from_bucket(s3_media, url)

    # Deleted from the library (only a draft used it): the renditions go, and the page shows no picture.
    delete_url = reverse("admin:articles_image_delete", args=[first.pk])
    admin_post(editor_client, delete_url, {"post": "yes"}, django_capture_on_commit_callbacks)
    assert not LibraryImage.objects.exists()
    assert s3_media.names() == {first_original, second_original}
    page = editor_client.get(article.get_absolute_url())
    assert page.status_code == 200
    assert page_image_urls(page.content) == []
    assert local_files(settings) == []


def truncated_jpeg():
    data = jpeg_upload().read()
    return SimpleUploadedFile("photo.jpg", data[: len(data) // 2], content_type="image/jpeg")


def svg_as_jpeg():
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    return SimpleUploadedFile("photo.jpg", svg, content_type="image/jpeg")


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (truncated_jpeg, "This image file is damaged or incomplete"),
        (svg_as_jpeg, "This file is not a JPEG, PNG, WebP or GIF image."),
    ],
    ids=["truncated", "svg"],
)
def test_a_broken_upload_gets_a_form_error_and_writes_nothing(
    editor_client, s3_media, settings, upload, message
):
    response = editor_client.post(IMAGE_ADD_URL, image_form(upload()))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in errors["file"][0]
    assert message in response.content.decode()
    assert not LibraryImage.objects.exists()
    assert s3_media.names() == set()
    assert local_files(settings) == []


def test_with_a_cdn_host_pages_link_to_it_and_it_maps_onto_the_bucket(
    editor_client, s3_env, settings, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setenv("AWS_S3_CUSTOM_DOMAIN", "media.example.com")
    settings.STORAGES = {**settings.STORAGES, "default": s3_media_storage(environ.Env())}
    hero = upload_to_library(editor_client, jpeg_upload(), django_capture_on_commit_callbacks)
    admin_post(editor_client, ADD_URL, article_form(hero=hero.pk), django_capture_on_commit_callbacks)
    article = Article.objects.get()

    urls = page_image_urls(Client().get(article.get_absolute_url()).content)
    assert urls and all(url.startswith("https://media.example.com/library/") for url in urls), urls
    assert all("?" not in url for url in urls)
    keys = {urlsplit(url).path.lstrip("/") for url in urls}
    assert keys == rendition_names(hero) and keys <= s3_env.names()
    for key in keys:  # what the CDN would fetch from its origin, the bucket
        assert_served_from_bucket(s3_env, s3_env.base_url + key)


# --- conclave/settings.py read from the environment ---------------------------------------------------

PROBE = """
import json
from django.conf import settings
from django.core.files.storage import default_storage

values = {name: repr(getattr(settings, name)) for name in dir(settings) if name.isupper()}
default_storage._setup()
storage = default_storage._wrapped
print(json.dumps({
    "default": settings.STORAGES["default"],
    "class": f"{type(storage).__module__}.{type(storage).__qualname__}",
    "settings": values,
    "url": storage.url("articles/2025/01/plant.jpg"),
}))
"""


def settings_from_env(**env):
    """conclave.settings, imported in a fresh interpreter with only the given deployment variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "AWS_", "S3_TEST_"))}
    clean.update(
        PRODUCTION_ENV,
        DJANGO_SETTINGS_MODULE="conclave.settings",
        # Empty values mask anything a local .env may hold.
        AWS_STORAGE_BUCKET_NAME="",
        AWS_S3_ENDPOINT_URL="",
        AWS_S3_REGION_NAME="",
        AWS_S3_CUSTOM_DOMAIN="",
        AWS_EC2_METADATA_DISABLED="true",
    )
    clean.update(env)
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_settings_use_the_bucket_named_by_the_environment_and_hold_no_credentials():
    found = settings_from_env(
        AWS_STORAGE_BUCKET_NAME="conclave-media",
        AWS_S3_ENDPOINT_URL="https://s3.example.net",
        AWS_S3_REGION_NAME="eu-west-1",
        AWS_S3_CUSTOM_DOMAIN="media.example.com",
        AWS_ACCESS_KEY_ID="AKIACANARYACCESSKEY",
        AWS_SECRET_ACCESS_KEY="canary-secret-never-in-settings",
    )
    assert found["default"] == {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": "conclave-media",
            "endpoint_url": "https://s3.example.net",
            "region_name": "eu-west-1",
            "custom_domain": "media.example.com",
            "querystring_auth": False,
            "file_overwrite": False,
            "object_parameters": {"CacheControl": CACHE_CONTROL},
        },
    }
    # django-storages accepts every option (it refuses unknown ones) and builds plain CDN links.
    assert found["class"] == "storages.backends.s3.S3Storage"
    assert found["url"] == "https://media.example.com/articles/2025/01/plant.jpg"
    # The credentials stay with boto3: no setting holds them, under any name.
    settings_text = "\n".join(found["settings"].values())
    assert "AKIACANARYACCESSKEY" not in settings_text
    assert "canary-secret-never-in-settings" not in settings_text


def test_settings_optional_s3_variables_may_be_left_out():
    found = settings_from_env(AWS_STORAGE_BUCKET_NAME="conclave-media")
    options = found["default"]["OPTIONS"]
    assert options["bucket_name"] == "conclave-media"
    assert options["endpoint_url"] is None and options["region_name"] is None
    assert options["custom_domain"] is None


def test_settings_keep_local_media_without_a_bucket():
    found = settings_from_env()
    assert found["default"] == {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    assert found["class"] == "django.core.files.storage.filesystem.FileSystemStorage"
    assert found["url"] == "/media/articles/2025/01/plant.jpg"


def test_an_admin_save_that_fails_after_the_upload_leaves_nothing_in_the_bucket(
    editor_client, s3_media, settings, monkeypatch
):
    """The upload and its renditions are written while the image row is saved; a failure after that
    (here, in what the admin saves next) rolls the row back, and the files with it."""

    def failing_save_related(self, request, form, formsets, change):
        raise RuntimeError("the admin's next write failed")

    monkeypatch.setattr(ImageAdmin, "save_related", failing_save_related)
    editor_client.raise_request_exception = False
    response = editor_client.post(IMAGE_ADD_URL, image_form(jpeg_upload()))
    assert response.status_code == 500
    assert not LibraryImage.objects.exists()
    assert s3_media.names() == set()
    assert local_files(settings) == []
