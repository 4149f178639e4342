"""JSON-LD checked against schema.org's own definitions (the vocabulary vendored in tests/corpora/schemaorg,
release 30.0), and a live blog against Google's requirements for its rich result.

``problems(data)`` walks a JSON-LD object and lists what schema.org does not define: a ``@type`` that is
no schema.org class; a property that is none, or whose ``domainIncludes`` names neither the object's type
nor any class above it (``rdfs:subClassOf``, walked up to Thing); a value whose type is outside the
property's ``rangeIncludes``: an object of another class, or a literal that no data type in the range
accepts (a DateTime must parse as ISO 8601 with a time, a URL must be absolute http(s), a Number a
number…). Nested objects are checked the same way. ``pending_terms(data)`` names the terms used that
schema.org still calls pending: defined, not yet core.

``live_blog_problems(data, ended)`` is the second check: what Google asks of a LiveBlogPosting.
"""

import datetime
import functools
import gzip
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

VOCABULARY = (
    Path(__file__).resolve().parents[1] / "corpora" / "schemaorg" / "schemaorg-current-https.jsonld.gz"
)
PENDING = "https://pending.schema.org"
CONTEXTS = {"https://schema.org", "https://schema.org/", "http://schema.org", "http://schema.org/"}
KEYWORDS = {"@context", "@type", "@id"}
# Google's live blog rich result (issue 20): an update's headline at most this long.
HEADLINE_LIMIT = 110


def _ids(value):
    """The schema.org names in a vocabulary field: one {"@id": …} or a list of them."""
    items = value if isinstance(value, list) else [value] if value else []
    return [item["@id"].removeprefix("schema:") for item in items if item["@id"].startswith("schema:")]


class Vocabulary:
    def __init__(self, graph):
        self.terms = {
            node["@id"].removeprefix("schema:"): node for node in graph if node["@id"].startswith("schema:")
        }
        kinds = {
            name: set(node["@type"] if isinstance(node["@type"], list) else [node["@type"]])
            for name, node in self.terms.items()
        }
        self.classes = {name for name, kind in kinds.items() if "rdfs:Class" in kind}
        self.properties = {name for name, kind in kinds.items() if "rdf:Property" in kind}
        # Text, Number, DateTime… are typed DataType; URL, Integer… are classes below one of them.
        base = {name for name, kind in kinds.items() if "schema:DataType" in kind}
        self.datatypes = {name for name in self.classes if self.lineage(name) & base}

    @functools.cache  # noqa: B019 -- one Vocabulary for the whole run (vocabulary())
    def lineage(self, name):
        """The class and every class above it."""
        seen, todo = set(), [name]
        while todo:
            current = todo.pop()
            if current in seen or current not in self.terms:
                continue
            seen.add(current)
            todo.extend(_ids(self.terms[current].get("rdfs:subClassOf")))
        return frozenset(seen)

    def domain(self, prop):
        return set(_ids(self.terms[prop].get("schema:domainIncludes")))

    def range(self, prop):
        return set(_ids(self.terms[prop].get("schema:rangeIncludes")))

    def is_pending(self, name):
        return PENDING in {item["@id"] for item in _as_list(self.terms[name].get("schema:isPartOf"))}


def _as_list(value):
    return value if isinstance(value, list) else [] if value is None else [value]


@functools.cache
def vocabulary():
    with gzip.open(VOCABULARY) as data:
        return Vocabulary(json.load(data)["@graph"])


def is_datetime(text):
    if not isinstance(text, str) or "T" not in text:
        return False
    try:
        datetime.datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def is_date(text):
    if not isinstance(text, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return False
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def is_time(text):
    try:
        return isinstance(text, str) and bool(datetime.time.fromisoformat(text))
    except ValueError:
        return False


def is_url(text):
    if not isinstance(text, str) or any(c.isspace() for c in text):
        return False
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _is_number(value):
    return isinstance(value, int | float) and not isinstance(value, bool)


# What each data type accepts as a JSON literal; a type below one of these (PronounceableText is a
# Text) accepts what the nearest of them does.
LITERALS = {
    "URL": is_url,
    "DateTime": is_datetime,
    "Date": is_date,
    "Time": is_time,
    "Integer": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "Float": _is_number,
    "Number": lambda value: (
        _is_number(value) or (isinstance(value, str) and bool(re.fullmatch(r"-?\d+(\.\d+)?", value)))
    ),
    "Boolean": lambda value: isinstance(value, bool),
    "Text": lambda value: isinstance(value, str),
}


def accepts_literal(datatype, value):
    vocab = vocabulary()
    # The type itself, then those above it, Text last: PronounceableText is checked as a Text.
    for name in (datatype, *sorted(vocab.lineage(datatype) - {datatype}, key=lambda n: n == "Text")):
        if name in LITERALS:
            return LITERALS[name](value)
    return False


def problems(data, path="$"):
    """Everything in ``data`` (a JSON-LD object) that schema.org does not define, one line each."""
    found = []
    if path == "$" and data.get("@context") not in CONTEXTS:
        found.append(f"$: @context {data.get('@context')!r} is not schema.org")
    _check_object(data, path, None, found)
    return found


def _types(node):
    return [t.removeprefix("schema:") for t in _as_list(node.get("@type"))]


def _check_object(node, path, expected, found):
    vocab = vocabulary()
    types = _types(node)
    if not types and set(node) - {"@id"}:
        found.append(f"{path}: an object without @type")
    for name in types:
        if name not in vocab.classes or name in vocab.datatypes:
            found.append(f"{path}: @type {name!r} is not a schema.org class")
    # Only the types schema.org knows: an unknown one is reported once, not again for each property.
    known = [name for name in types if name in vocab.classes and name not in vocab.datatypes]
    lineage = set().union(*(vocab.lineage(name) for name in known))
    if expected is not None and known and not lineage & expected:
        found.append(f"{path}: a {'/'.join(types)} where {' or '.join(sorted(expected))} is expected")
    if "@id" in node and not is_url(node["@id"]):
        found.append(f"{path}.@id: {node['@id']!r} is not an absolute http(s) URL")
    for key, value in node.items():
        if key in KEYWORDS:
            continue
        where = f"{path}.{key}"
        if key not in vocab.properties:
            found.append(f"{where}: {key!r} is not a schema.org property")
            continue
        if known and not vocab.domain(key) & lineage:
            domain = ", ".join(sorted(vocab.domain(key)))
            found.append(f"{where}: not a property of {'/'.join(types)} (its domain: {domain})")
        if isinstance(value, list):
            for index, item in enumerate(value):
                _check_value(item, f"{where}[{index}]", vocab.range(key), found)
        else:
            _check_value(value, where, vocab.range(key), found)


def _check_value(value, path, ranges, found):
    vocab = vocabulary()
    if isinstance(value, dict):
        classes = {name for name in ranges if name not in vocab.datatypes}
        _check_object(value, path, classes or {"<a data type>"}, found)
        return
    if value is None:
        found.append(f"{path}: null")
        return
    datatypes = ranges & vocab.datatypes
    if not any(accepts_literal(name, value) for name in datatypes):
        expected = " or ".join(sorted(ranges))
        found.append(f"{path}: {value!r} is not a valid {expected}")


def pending_terms(data):
    """The pending schema.org terms ``data`` uses (types and properties), to note, not to fail."""
    vocab, used = vocabulary(), set()

    def walk(node):
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            used.update(_types(node))
            used.update(key for key in node if key not in KEYWORDS)
            for value in node.values():
                walk(value)

    walk(data)
    return {name for name in used if name in vocab.terms and vocab.is_pending(name)}


def _timestamp(value):
    """An ISO 8601 date and time with its offset, or None: Google reads times without one in its own zone."""
    if not is_datetime(value):
        return None
    moment = datetime.datetime.fromisoformat(value)
    return moment if moment.tzinfo else None


def live_blog_problems(data, ended):
    """What Google's live blog rich result asks of the page's LiveBlogPosting, one line each:
    coverageStartTime; coverageEndTime once the coverage has ended (not before); updates in
    liveBlogUpdate, each a BlogPosting with a headline of at most 110 characters, a datePublished
    and its text (articleBody); every time with its UTC offset."""
    found = []
    if "LiveBlogPosting" not in _types(data):
        return [f"$: a {_types(data)}, not a LiveBlogPosting"]
    start = _timestamp(data.get("coverageStartTime"))
    if start is None:
        found.append(
            f"coverageStartTime: {data.get('coverageStartTime')!r} is no date and time with an offset"
        )
    end = data.get("coverageEndTime")
    if ended:
        if _timestamp(end) is None:
            found.append(
                f"coverageEndTime: {end!r} is no date and time with an offset, and the coverage ended"
            )
        elif start and _timestamp(end) < start:
            found.append("coverageEndTime: before coverageStartTime")
    elif end is not None:
        found.append("coverageEndTime: given while the coverage runs")
    headline = data.get("headline")
    if not isinstance(headline, str) or not 0 < len(headline) <= HEADLINE_LIMIT:
        found.append(f"headline: {headline!r} is not 1 to {HEADLINE_LIMIT} characters")
    updates = data.get("liveBlogUpdate")
    if not isinstance(updates, list) or not updates:
        return [*found, "liveBlogUpdate: no updates"]
    for index, update in enumerate(updates):
        where = f"liveBlogUpdate[{index}]"
        if not isinstance(update, dict) or "BlogPosting" not in _types(update):
            found.append(f"{where}: not a BlogPosting")
            continue
        title = update.get("headline")
        if not isinstance(title, str) or not title.strip() or len(title) > HEADLINE_LIMIT:
            found.append(f"{where}.headline: {title!r} is not 1 to {HEADLINE_LIMIT} characters")
        if _timestamp(update.get("datePublished")) is None:
            found.append(
                f"{where}.datePublished: {update.get('datePublished')!r} is no date and time with an offset"
            )
        if not isinstance(update.get("articleBody"), str) or not update["articleBody"].strip():
            found.append(f"{where}.articleBody: missing")
    return found
