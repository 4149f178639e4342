"""The "Most read" beacon: ``POST /beacon/`` with a story's ticket, sent once per view by
static/js/mostread.js (articles/readership.py says what counts).

No cookie, no session, no CSRF token (the pages that send it are the same cached bytes for everyone),
no database: the ticket's signature says the story is one of ours, and the counting is in the cache.
Never kept by anyone (``no-store``); POST, so no edge cache keeps it either. It answers 204 whether the
view counted or not (a bot learns nothing), 400 for a body that is no ticket, 413 for a long one, 405
for anything but POST.
"""

import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from articles import readership
from conclave.middleware import client_ip

logger = logging.getLogger(__name__)

# A ticket is an id and a signature: well under this.
MAX_BODY_BYTES = 128


def _answer(status):
    response = HttpResponse(status=status)
    response["Cache-Control"] = "no-store"
    return response


def _from_this_site(request):
    """Whether a browser on one of this site's pages sent it: sendBeacon's POST always carries the
    page's ``Origin``, and ``Sec-Fetch-Site: same-origin`` where the browser sends that header."""
    origin = request.headers.get("Origin", "")
    own = {
        f"{request.scheme}://{request.get_host()}",
        "{0.scheme}://{0.netloc}".format(urlsplit(settings.SITE_URL)),
    }
    fetch_site = request.headers.get("Sec-Fetch-Site")
    return origin in own and fetch_site in (None, "same-origin")


@csrf_exempt
@require_POST
def beacon(request):
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _answer(400)
    if length > MAX_BODY_BYTES:
        return _answer(413)
    try:
        text = request.body.decode("ascii").strip()
    except UnicodeDecodeError:
        return _answer(400)
    article_id = readership.article_id_of(text) if text else None
    if article_id is None:
        return _answer(400)
    visitor = readership.Visitor(
        address=client_ip(request),
        user_agent=request.headers.get("User-Agent", ""),
        origin_ok=_from_this_site(request),
    )
    try:
        readership.record_view(article_id, visitor)
    except Exception as exc:  # the cache is down: a view lost, never an error for the reader
        logger.warning("Most read: view not counted: %r", exc)
    return _answer(204)
