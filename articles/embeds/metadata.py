"""A provider's answer read into plain values we store: nothing of its HTML is ever kept.

Every answer is hostile until read: JSON of any shape (wrong types are read as missing), strings with
markup (reduced to their text: titles, names and post text are plain text, escaped when shown), links
that must be https, dates that must parse. Lengths are capped to the model's columns.
"""

import datetime
import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import html5lib

from articles.embeds import fetching
from articles.embeds.providers import Match
from articles.rendering import strip_controls

MAX_TITLE = 300
MAX_AUTHOR = 200
MAX_URL = 500
MAX_TEXT = 5000
# A gist is shown as its first file's first lines: enough to read, never a whole repository.
MAX_CODE_LINES = 60
MAX_CODE_CHARS = 6000

_SPACES_RE = re.compile(r"[^\S\n]+")
# Invisible characters that only hide or reorder text (zero-width spaces, bidirectional overrides):
# a provider's title must read as what it says. The zero-width joiner stays, for emoji.
_INVISIBLE_RE = re.compile("[\u200b\u200c\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_BLANK_LINES_RE = re.compile(r"\n{3,}")


@dataclass
class Metadata:
    title: str = ""
    author_name: str = ""
    author_url: str = ""
    text: str = ""
    published: datetime.date | None = None
    thumbnail_url: str = ""


def fetch(match: Match) -> Metadata:
    """The metadata of one matched URL, from its provider's endpoint; FetchError if it cannot be had."""
    body, _type = fetching.get(
        match.metadata_url, match.metadata_hosts, max_bytes=fetching.MAX_JSON_BYTES, accept="application/json"
    )
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise fetching.FetchError("the provider's answer is not JSON") from None
    if not isinstance(data, dict):
        raise fetching.FetchError("the provider's answer is not a JSON object")
    reader = _READERS[match.provider.key]
    found = reader(data, match)
    if match.provider.kind != "post" and not found.title:
        raise fetching.FetchError("the provider's answer has no title")
    if match.provider.kind == "post" and not found.text:
        raise fetching.FetchError("the provider's answer has no text")
    return found


# Plain values out of untrusted JSON.


def _get(data, *keys):
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def plain(value, limit, *, lines=False):
    """Text of a string that may hold markup or controls: tags dropped, entities decoded, spaces
    collapsed (newlines kept with ``lines``), cut to ``limit``. Anything but a string is ""."""
    if not isinstance(value, str):
        return ""
    if "<" in value or "&" in value:
        value = _text_of_html(value[: limit * 4])
    value = _INVISIBLE_RE.sub("", strip_controls(value.replace("\r\n", "\n").replace("\r", "\n")))
    if lines:
        value = "\n".join(_SPACES_RE.sub(" ", line).strip() for line in value.split("\n"))
        value = _BLANK_LINES_RE.sub("\n\n", value).strip()
    else:
        value = " ".join(value.split())
    return value[:limit].rstrip()


def _text_of_html(fragment):
    """The text a browser would show of ``fragment``, with paragraph and line breaks as newlines."""
    return _text_of_element(html5lib.parseFragment(fragment, namespaceHTMLElements=False))


def _text_of_element(root):
    for element in root.iter():
        if element.tag in ("script", "style", "template", "noscript"):
            element.clear()  # text and children gone; the tail (text after it) stays
        elif element.tag == "br":
            element.tail = "\n" + (element.tail or "")
        elif element.tag in ("p", "div", "li", "blockquote"):
            element.tail = "\n\n" + (element.tail or "")
    return "".join(root.itertext())


def https_url(value):
    """``value`` if it is a plain https URL with a host, else ""."""
    if not isinstance(value, str) or len(value) > MAX_URL or not value.isascii():
        return ""
    if any(char.isspace() or ord(char) < 0x21 or char in "\\<>\"'`" for char in value):
        return ""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises ValueError for a bad port
    except ValueError:
        return ""
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
        return ""
    return value


def _date(value):
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    except ValueError:
        return None


# One reader per provider.


def _oembed(data, match):
    return Metadata(
        title=plain(data.get("title"), MAX_TITLE),
        author_name=plain(data.get("author_name"), MAX_AUTHOR),
        author_url=https_url(data.get("author_url")),
        thumbnail_url=https_url(data.get("thumbnail_url")),
    )


def _x(data, match):
    # Only the text of the oEmbed HTML is read: the post's paragraph, and the date of its last link.
    markup = data.get("html") if isinstance(data.get("html"), str) else ""
    root = html5lib.parseFragment(markup[: fetching.MAX_JSON_BYTES], namespaceHTMLElements=False)
    paragraph = next(root.iter("p"), None)
    links = list(root.iter("a"))
    published = None
    if links:
        try:
            date_text = " ".join("".join(links[-1].itertext()).split())
            published = datetime.datetime.strptime(date_text, "%B %d, %Y")
        except ValueError:
            published = None
    text = _text_of_element(paragraph) if paragraph is not None else ""
    return Metadata(
        title="",
        author_name=plain(data.get("author_name"), MAX_AUTHOR),
        author_url=https_url(data.get("author_url")),
        text=plain(text, MAX_TEXT, lines=True),
        published=published.date() if published else None,
    )


def _bluesky(data, match):
    posts = data.get("posts")
    post = posts[0] if isinstance(posts, list) and posts and isinstance(posts[0], dict) else {}
    handle = plain(_get(post, "author", "handle"), MAX_AUTHOR)
    images = _get(post, "embed", "images")
    first = images[0] if isinstance(images, list) and images else None
    return Metadata(
        author_name=plain(_get(post, "author", "displayName"), MAX_AUTHOR) or handle,
        author_url=f"https://bsky.app/profile/{handle}" if re.fullmatch(r"[A-Za-z0-9.:-]+", handle) else "",
        text=plain(_get(post, "record", "text"), MAX_TEXT, lines=True),
        published=_date(_get(post, "record", "createdAt")),
        thumbnail_url=https_url(_get(first, "thumb")),
    )


def _mastodon(data, match):
    acct = _get(data, "account", "acct")
    username = acct.split("@")[0] if isinstance(acct, str) else ""
    if username.lower() != match.user.lower():
        raise fetching.FetchError(f"the post is not by @{match.user}")
    media = data.get("media_attachments")
    image = next(
        (item for item in media if isinstance(item, dict) and item.get("type") == "image"), None
    ) if isinstance(media, list) else None  # fmt: skip
    return Metadata(
        author_name=plain(_get(data, "account", "display_name"), MAX_AUTHOR) or f"@{match.user}",
        author_url=https_url(_get(data, "account", "url")),
        text=plain(data.get("content"), MAX_TEXT, lines=True),
        published=_date(data.get("created_at")),
        thumbnail_url=https_url(_get(image, "preview_url")),
    )


def _gist(data, match):
    files = data.get("files")
    first = next((f for f in files.values() if isinstance(f, dict)), {}) if isinstance(files, dict) else {}
    filename = plain(first.get("filename"), MAX_TITLE)
    content = first.get("content") if isinstance(first.get("content"), str) else ""
    # Code is text too: shown escaped in <pre>, never as markup. Controls go; tabs and newlines stay.
    code = "\n".join(strip_controls(content[: MAX_CODE_CHARS * 2]).split("\n")[:MAX_CODE_LINES])
    return Metadata(
        title=plain(data.get("description"), MAX_TITLE) or filename,
        author_name=plain(_get(data, "owner", "login"), MAX_AUTHOR),
        author_url=https_url(_get(data, "owner", "html_url")),
        text=code[:MAX_CODE_CHARS],
        published=_date(data.get("created_at")),
    )


_READERS = {
    "youtube": _oembed,
    "vimeo": _oembed,
    "codepen": _oembed,
    "x": _x,
    "bluesky": _bluesky,
    "mastodon": _mastodon,
    "gist": _gist,
}
