"""What can be followed by email (a tag, an author, a section, one story), how each is found by the
address of its follow form or a settings link, and the words every page and mail uses for it."""

from django.db.models import Q
from django.shortcuts import get_object_or_404
from django.urls import reverse

from articles.models import FOLLOW_KINDS, TARGET_KIND, Article, Author, Section, Tag

# How the settings page heads each kind's follows, in the order it lists them.
GROUPS = {"tag": "Topics", "author": "Authors", "section": "Sections", "article": "Stories"}
# The follow form's URL name of each kind (the tag's is the oldest, hence its plain name).
FOLLOW_URL_NAMES = {
    "tag": "articles:follow",
    "author": "articles:author-follow",
    "section": "articles:section-follow",
    "article": "articles:story-follow",
}
# A story's columns no follow page shows, left in the database when its follows are read.
STORY_TEXT = ("article__body", "article__body_html", "article__search_vector")
assert set(GROUPS) == set(FOLLOW_URL_NAMES) == set(FOLLOW_KINDS)


def public(kind):
    """Everything of this kind a reader may follow now: what has a page. A tag typed into a draft is
    nobody's to follow yet (Tag.objects.public), nor is a story before it is published."""
    if kind == "tag":
        return Tag.objects.public()
    if kind == "article":
        return Article.objects.published().defer("body", "body_html", "search_vector")
    return {"author": Author, "section": Section}[kind].objects.all()


def find(kind, slug):
    """The followable target of this kind at this slug (a tag's old slug finds the tag it became),
    or None: for links that must not fail (a settings link mailed before a rename)."""
    if kind not in GROUPS:
        return None
    if kind == "tag":
        return public("tag").filter(Q(slug=slug) | Q(redirects__old_slug=slug)).first()
    return public(kind).filter(slug=slug).first()


def find_or_404(kind, slug):
    """The followable target at a follow form's address; 404 for anything without a public page."""
    return get_object_or_404(public(kind), slug=slug)


def parse(value):
    """A target named in a settings link or form: '<kind>:<slug>', or a bare slug, which names a tag
    (settings links mailed before other kinds could be followed)."""
    kind, sep, slug = value.partition(":")
    if not sep:
        return find("tag", value)
    return find(kind, slug)


class Followable:
    """One thing that can be followed, with its words: the box's title, its button, what the mail asks."""

    def __init__(self, obj):
        self.obj = obj
        self.kind = TARGET_KIND[type(obj)]
        # One line, however an editor typed it: it goes into mail subjects and button labels.
        self.name = " ".join((obj.title if self.kind == "article" else obj.name).split())
        self.slug = obj.slug
        self.group = GROUPS[self.kind]

    def __eq__(self, other):
        return isinstance(other, Followable) and (self.kind, self.obj.pk) == (other.kind, other.obj.pk)

    def __hash__(self):
        return hash((self.kind, self.obj.pk))

    def __str__(self):
        return self.name

    @property
    def value(self):
        """How forms and settings links name it: '<kind>:<slug>'."""
        return f"{self.kind}:{self.slug}"

    @property
    def log_name(self):
        """How the log names it: 'tag openai' (its slug, never its name: names may be anything)."""
        return f"{self.kind} {self.slug}"

    @property
    def url(self):
        return self.obj.get_absolute_url()

    @property
    def follow_url(self):
        return reverse(FOLLOW_URL_NAMES[self.kind], kwargs={"slug": self.slug})

    @property
    def about(self):
        """What following it brings: 'stories about OpenAI', 'corrections and updates to “…”'."""
        return {
            "tag": f"stories about {self.name}",
            "author": f"stories by {self.name}",
            "section": f"stories in {self.name}",
            "article": f"corrections and updates to “{self.name}”",
        }[self.kind]

    @property
    def title(self):
        """The follow box's heading."""
        return {
            "tag": f"Get {self.name} stories by email",
            "author": f"Get stories by {self.name} by email",
            "section": f"Get {self.name} stories by email",
            "article": "Follow this story",
        }[self.kind]

    @property
    def button(self):
        return "Follow this story" if self.kind == "article" else f"Follow {self.name}"

    @property
    def short(self):
        """Its name in a sentence: 'OpenAI', 'the story “…”'."""
        return f"the story “{self.name}”" if self.kind == "article" else self.name
