"""Import Markdown stories with YAML front matter (the format of articles/demo/*.md).

Create or update by slug: importing the same file twice changes nothing. A broken file raises
ImportFailure naming the line; the caller reports it and carries on with the next file.
"""

import datetime
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.utils.dateparse import parse_datetime
from django.utils.text import slugify

from articles import audit, images
from articles.models import Article, Author, Image, Revision, Section, Tag, check_tag_names

KNOWN_KEYS = {
    "title",
    "slug",
    "standfirst",
    "section",
    "authors",
    "tags",
    "status",
    "published_at",
    "hero_image",
    "hero_alt",
    "hero_caption",
    "hero_credit",
    "image_credit",
    "seo_title",
    "seo_description",
}


class ImportFailure(Exception):
    def __init__(self, line, message):
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass
class StoryFile:
    """A parsed file: front matter values, the Markdown body, and where each key was written."""

    meta: dict
    body: str
    body_line: int
    key_lines: dict
    folder: Path

    def line_of(self, key):
        return self.key_lines.get(key, 1)


def parse_story(text, folder=Path(".")):
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        raise ImportFailure(1, "the file must start with a '---' line opening the front matter")
    try:
        closing = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---")
    except StopIteration:
        raise ImportFailure(1, "the front matter opened on line 1 is never closed with '---'") from None
    front = "\n".join(lines[1:closing])
    try:
        meta = yaml.safe_load(front) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark else 1
        raise ImportFailure(
            line, f"the front matter is not valid YAML ({getattr(exc, 'problem', exc)})"
        ) from None
    if not isinstance(meta, dict):
        raise ImportFailure(2, "the front matter must be 'key: value' lines")
    key_lines = {}
    for number, line in enumerate(lines[1:closing], start=2):
        key = line.split(":", 1)[0].strip()
        if ":" in line and not line.startswith((" ", "\t", "-")):
            key_lines.setdefault(key, number)
    unknown = sorted(set(meta) - KNOWN_KEYS)
    if unknown:
        raise ImportFailure(key_lines.get(unknown[0], 2), f"unknown front matter key {unknown[0]!r}")
    body = "\n".join(lines[closing + 1 :]).strip("\n")
    story = StoryFile(meta=meta, body=body, body_line=closing + 2, key_lines=key_lines, folder=folder)
    for key in ("title",):
        if not str(meta.get(key) or "").strip():
            raise ImportFailure(story.line_of(key), f"{key!r} is required")
    if not body.strip():
        raise ImportFailure(closing + 1, "the story has no body after the front matter")
    return story


def _as_list(story, key):
    value = story.meta.get(key) or []
    if isinstance(value, str):
        value = [part for part in (item.strip() for item in value.split(",")) if part]
    if not isinstance(value, list) or not all(isinstance(item, str | int | float) for item in value):
        raise ImportFailure(story.line_of(key), f"{key!r} must be a list like [One, Two]")
    return [str(item).strip() for item in value if str(item).strip()]


def story_published_at(story):
    value = story.meta.get("published_at")
    if value is None or isinstance(value, datetime.datetime):
        parsed = value
    elif isinstance(value, datetime.date):
        parsed = datetime.datetime.combine(value, datetime.time(), tzinfo=datetime.UTC)
    else:
        parsed = parse_datetime(str(value))
        if parsed is None:
            raise ImportFailure(
                story.line_of("published_at"),
                f"published_at {value!r} is not a date like 2025-11-21T09:00:00Z",
            )
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed


def _first_error_line(story, error):
    fields = list(getattr(error, "error_dict", {}))
    if "body" in fields:
        return story.body_line
    return story.line_of(fields[0]) if fields else 1


@transaction.atomic
def import_story(story):
    """Create or update one article from a parsed story.

    Returns the article and what happened to it: "created", "updated" or "unchanged".
    """
    meta = story.meta
    slug = str(meta.get("slug") or slugify(meta["title"]))[:200]
    status = str(meta.get("status") or Article.Status.PUBLISHED)
    if status not in Article.Status.values:
        raise ImportFailure(
            story.line_of("status"), f"status must be one of {', '.join(Article.Status.values)}"
        )
    section_name = str(meta.get("section") or "").strip()
    author_names = _as_list(story, "authors")
    tag_names = _as_list(story, "tags")

    article = Article.objects.filter(slug=slug).first() or Article(slug=slug)
    created = article.pk is None
    before = None if created else _snapshot(article)

    for field in Article.PLAIN_TEXT_FIELDS:
        setattr(article, field, str(meta.get(field) or "").strip())
    article.body = _body_with_library_images(story)
    article.status = status
    article.published_at = story_published_at(story)
    article.section = _get_or_create_section(section_name) if section_name else None
    if meta.get("hero_image") and not article.hero_id:
        for key in ("hero_alt", "hero_credit"):
            if not str(meta.get(key) or "").strip():
                raise ImportFailure(story.line_of("hero_image"), f"{key!r} is required with a hero_image")
        article.hero = _library_image(
            story,
            str(meta["hero_image"]),
            line=story.line_of("hero_image"),
            alt=str(meta["hero_alt"]).strip(),
            caption=str(meta.get("hero_caption") or "").strip(),
            credit=str(meta["hero_credit"]).strip(),
        )

    try:
        article.full_clean(exclude=["tags"])
    except ValidationError as exc:
        raise ImportFailure(_first_error_line(story, exc), _join_messages(exc)) from None

    try:
        check_tag_names(tag_names)
    except ValidationError as exc:
        raise ImportFailure(story.line_of("tags"), _join_messages(exc)) from None
    authors = [_get_or_create_author(name) for name in author_names]
    tags = [_get_or_create_tag(name) for name in tag_names]
    after = _snapshot(article, authors=authors, tags=tags)
    if after == before:
        return article, "unchanged"
    status_before = getattr(article, "_loaded_status", None)
    with transaction.atomic():
        article.save()
        article.authors.set(authors)
        article.tags.set(tags)
        Revision.record(article)
        if action := audit.status_action(status_before, article):
            audit.record(action, article, None, via="import_markdown")
    return article, "created" if created else "updated"


def _snapshot(article, authors=None, tags=None):
    """Everything an import can change, to tell an unchanged file from an edited one."""
    fields = {
        name: getattr(article, name)
        for name in [*Article.PLAIN_TEXT_FIELDS, "body", "status", "published_at"]
    }
    fields["section"] = article.section_id
    fields["hero"] = article.hero_id
    fields["authors"] = sorted(a.pk for a in (authors if authors is not None else article.authors.all()))
    fields["tags"] = sorted(t.pk for t in (tags if tags is not None else article.tags.all()))
    return fields


# A standard Markdown image whose address is a path (not a URL, not already image:N), on its own line.
_LOCAL_IMAGE_RE = re.compile(
    r'^(?P<indent>[ ]{0,3})!\[(?P<alt>[^\]\n]*)\]\((?P<path>(?![a-zA-Z][a-zA-Z0-9+.-]*:|/)[^)\s"]+)'
    r'(?:[ ]+"(?P<caption>[^"\n]*)")?\)(?P<rest>.*)$',
    re.MULTILINE,
)


def _body_with_library_images(story):
    """The body with each image that names a file beside the story imported into the library (once)
    and pointed at it by number, as the admin's picker writes it."""
    credit = str(story.meta.get("image_credit") or "").strip()

    def into_library(match):
        line = story.body_line + story.body.count("\n", 0, match.start())
        alt = match["alt"].strip()
        if not alt:
            raise ImportFailure(
                line, f"the image {match['path']} needs alt text: ![what it shows]({match['path']})"
            )
        if not credit:
            raise ImportFailure(
                line, "the story has images: add 'image_credit' (photographer or agency) to the front matter"
            )
        image = _library_image(
            story, match["path"], line=line, alt=alt, caption=(match["caption"] or "").strip(), credit=credit
        )
        title = f' "{match["caption"]}"' if match["caption"] is not None else ""
        return f"{match['indent']}![{alt}](image:{image.pk}{title}){match['rest']}"

    return _LOCAL_IMAGE_RE.sub(into_library, story.body)


def _library_image(story, relative_path, *, line, alt, caption, credit):
    """The library image of a file beside the story: the one imported before, or a new one."""
    folder = story.folder.resolve()
    path = (folder / relative_path).resolve()
    if not path.is_relative_to(folder):
        raise ImportFailure(line, f"the image {relative_path} is outside the story's folder")
    if not path.is_file():
        raise ImportFailure(line, f"the image {path} does not exist")
    data = path.read_bytes()
    checksum = hashlib.sha256(data).hexdigest()
    image = Image.objects.filter(checksum=checksum).first()
    if image is not None:
        return image
    with path.open("rb") as handle:
        try:
            content = images.prepare_upload(File(handle, name=path.name)).content
        except ValidationError as exc:
            raise ImportFailure(line, f"the image {relative_path}: {_join_messages(exc)}") from None
    image = Image(
        file=content,
        alt=alt[:250],
        caption=caption[:300],
        credit=credit[:200],
        original_filename=path.name[:255],
    )
    image.checksum = checksum
    image.save()
    return image


def _get_or_create_section(name):
    section = Section.objects.filter(name__iexact=name).first()
    return section or Section.objects.create(name=name, slug=slugify(name)[:80])


def _get_or_create_author(name):
    author = Author.objects.filter(name__iexact=name).first()
    return author or Author.objects.create(name=name, slug=slugify(name)[:120])


def _get_or_create_tag(name):
    tag = Tag.objects.filter(name__iexact=name).first()
    return tag or Tag.objects.create(name=name)


def _join_messages(error):
    if hasattr(error, "error_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in error.message_dict.items())
    return " ".join(error.messages)


def import_file(path):
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ImportFailure(1, f"the file is not UTF-8 text ({exc.reason})") from None
    if "\x00" in text:
        # The admin refuses NUL in text as Django's forms do; PostgreSQL could not even store it.
        raise ImportFailure(text.count("\n", 0, text.index("\x00")) + 1, "the file contains a NUL character")
    return import_story(parse_story(text, folder=path.parent))
