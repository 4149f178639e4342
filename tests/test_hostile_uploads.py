"""Hostile uploads through the admin's image library form: every image of tests/corpora/images,
each under a hostile file name from the fuzzdb lists of tests/corpora/upload_filenames.

What is checked: 0 server errors and 0 unsafe outputs on every page the upload answers with (judged by
tests/support/hostile_checker.py), that refused images are refused and good ones kept, that every file
is stored inside MEDIA_ROOT, and that a story's public page then shows it as its hero.
"""

from pathlib import Path

import pytest
from django.conf import settings
from django.test.client import BOUNDARY, encode_multipart

from articles.models import Image
from tests.factories import ArticleFactory
from tests.support.hostile_corpora import IMAGES, hostile_file_names
from tests.test_admin import IMAGE_ADD_URL
from tests.test_images import MANIFEST, expected_code

pytestmark = pytest.mark.usefixtures("quiet_request_logs")


def multipart_with_file(data, field, filename, content):
    """A multipart body whose file part carries ``filename`` exactly: Django's test client would send only
    its basename. Quotes and line breaks are escaped as browsers do (%22, %0D, %0A)."""
    body = encode_multipart(BOUNDARY, data)
    closing = f"--{BOUNDARY}--\r\n".encode()
    assert body.endswith(closing)
    escaped = filename.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
    part = b"\r\n".join(
        [
            f"--{BOUNDARY}".encode(),
            f'Content-Disposition: form-data; name="{field}"; filename="{escaped}"'.encode(),
            b"Content-Type: application/octet-stream",
            b"",
            content,
            b"",
        ]
    )
    return body[: -len(closing)] + part + closing


def stored_inside_media_root(name):
    root = Path(settings.MEDIA_ROOT).resolve()
    return ".." not in name and (root / name).resolve().is_relative_to(root)


@pytest.mark.timeout(240)
def test_library_images_under_hostile_names(no_page_cache, editor_browser, visitor, audit):
    """Every corpus image through the image library's form, each under a hostile file name from the fuzzdb
    lists; an accepted one is then shown as a story's hero."""
    base = {"alt": "A picture", "caption": "", "credit": "Agency", "focal_x": "0.5", "focal_y": "0.5"}
    names = hostile_file_names()
    content_type = "multipart/form-data; boundary=" + BOUNDARY  # not the test client's own constant
    for i, entry in enumerate(MANIFEST):
        content = (IMAGES / entry["file"]).read_bytes()
        refused = expected_code(entry) is not None
        for filename in (names[i % len(names)], names[i % len(names)] + Path(entry["file"]).suffix):
            where = f"POST admin image form file={entry['file']} as {filename!r}"
            before = set(Image.objects.values_list("pk", flat=True))
            body = multipart_with_file(base, "file", filename, content)
            response = editor_browser.post(IMAGE_ADD_URL, body, content_type=content_type)
            # 400: Django's multipart parser drops a part whose name is empty once sanitised ("/", ".."),
            # and with a binary body it then fails on the rest of the request (MultiPartParserError).
            audit.response(response, where, filename, mode="admin", statuses={200, 302, 400})
            image = Image.objects.exclude(pk__in=before).first()
            errors = response.context["adminform"].form.errors if response.status_code == 200 else {}
            if response.status_code == 400 or errors.get("file") == ["This field is required."]:
                continue  # the file never reached the form: try again with an extension
            if refused:
                if image is not None or "file" not in errors:
                    audit.fail(where, filename, f"a {expected_code(entry)} image was let through: {errors}")
            elif image is None:
                audit.fail(where, filename, f"an acceptable image was refused: {errors}")
            else:
                if not stored_inside_media_root(image.file.name):
                    audit.fail(where, filename, f"stored as {image.file.name!r}")
                url = ArticleFactory(slug=f"image-{i}", hero=image).get_absolute_url()
                audit.response(visitor.get(url), f"GET {url} after {where}", filename, statuses={200})
            break
        else:
            audit.fail(f"file={entry['file']}", names[i % len(names)], "never reached the form")
    audit.assert_clean(minimum_responses=len(MANIFEST))
