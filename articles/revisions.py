"""What changed between two revisions of an article, as the admin's history shows it (beside Revision)."""

import datetime
import difflib

from articles.models import Author, Image, Section

# What a restore brings back beside the title and body (Revision.restore), in the change form's order,
# then the publishing state, which only the history shows.
RESTORED_FIELDS = [
    ("standfirst", "Standfirst"),
    ("hero_id", "Hero image"),
    ("section_id", "Section"),
    ("author_ids", "Authors"),
    ("tags", "Tags"),
    ("seo_title", "SEO title"),
    ("seo_description", "SEO description"),
]
PUBLISHING_FIELDS = [("status", "Status"), ("published_at", "Published at")]


def revision_changes(older, newer, names, publishing=True):
    """[(field label, diff rows)] for what differs between two revisions; the body as a line diff.

    ``names`` names the sections and authors the snapshots hold by id (snapshot_names). Without
    ``publishing``, only what a restore brings back is compared.
    """
    if older is None:
        return [("Oldest revision kept", [])]
    changes = []
    if older.title != newer.title:
        changes.append(("Title", [("del", older.title), ("ins", newer.title)]))
    for name, label in RESTORED_FIELDS + (PUBLISHING_FIELDS if publishing else []):
        # Snapshots from before a field was kept have no value for it: nothing to compare.
        if name not in older.snapshot or name not in newer.snapshot:
            continue
        before, after = older.snapshot[name], newer.snapshot[name]
        if _comparable(name, before) != _comparable(name, after):
            shown = names.get(name)
            changes.append((label, [("del", _as_text(before, shown)), ("ins", _as_text(after, shown))]))
    if older.body != newer.body:
        changes.append(("Body", body_diff(older.body, newer.body)))
    return changes


def _comparable(name, value):
    # The same moment may be kept with another UTC offset (a form's time zone, then the database's).
    return datetime.datetime.fromisoformat(value) if name == "published_at" and value else value


def snapshot_names(revisions):
    """{"section_id": {id: name}, "author_ids": {id: name}, "hero_id": {id: alt text}} for every id
    these revisions hold: three queries."""
    section_ids = {revision.snapshot.get("section_id") for revision in revisions} - {None}
    author_ids = {pk for revision in revisions for pk in revision.snapshot.get("author_ids", [])}
    hero_ids = {revision.snapshot.get("hero_id") for revision in revisions} - {None}
    return {
        "section_id": dict(Section.objects.filter(pk__in=section_ids).values_list("pk", "name")),
        "author_ids": dict(Author.objects.filter(pk__in=author_ids).values_list("pk", "name")),
        "hero_id": dict(Image.objects.filter(pk__in=hero_ids).values_list("pk", "alt")),
    }


def _as_text(value, names=None):
    """A snapshot value as the history shows it; with ``names``, ids by name ("(deleted)" once gone)."""
    values = value if isinstance(value, list) else [value]
    if names is not None:
        values = [names.get(item, "(deleted)") for item in values if item is not None]
    return ", ".join(str(item) for item in values if item not in (None, "")) or "(none)"


def body_diff(before, after):
    """Changed lines with three lines of context, as (kind, text) rows: kind is ins, del, ctx or gap."""
    rows = []
    for line in list(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=3))[2:]:
        if line.startswith("@@"):
            rows.append(("gap", "…"))
        elif line.startswith("+"):
            rows.append(("ins", line[1:]))
        elif line.startswith("-"):
            rows.append(("del", line[1:]))
        else:
            rows.append(("ctx", line[1:]))
    return rows
