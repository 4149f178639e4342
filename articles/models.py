import datetime
import re
import secrets

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from taggit.managers import TaggableManager
from taggit.models import ItemBase, TagBase

from articles import figures, images, rendering
from articles.edge import EdgePurge  # noqa: F401 -- a model of this app
from articles.embeds import facades
from articles.embeds.models import Embed, embeds_for, lone_urls


def user_stamp():
    """Who created or changed something: set by the admin, kept when the account is deleted."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
    )


class Section(models.Model):
    name = models.CharField(max_length=80, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True, help_text="One or two sentences shown on the section page.")
    position = models.PositiveSmallIntegerField(
        default=100, help_text="Order in the site navigation: lower numbers come first."
    )

    class Meta:
        ordering = ["position", "name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("articles:section", kwargs={"slug": self.slug})


class Author(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=120, unique=True)
    bio = models.TextField(blank=True, help_text="A short biography shown on the author page.")
    avatar = models.ImageField(
        upload_to="authors/",
        blank=True,
        help_text="A portrait; cropped to a square of at most 320 px on upload.",
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="author_profile",
        help_text="The admin account of this author, if they have one.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("articles:author", kwargs={"slug": self.slug})


class TagQuerySet(models.QuerySet):
    def public(self):
        """Tags whose page, feeds and follow box readers may see: those with a published story, and those
        an editor chose to show before any. Anyone who may draft may create a tag just by typing it, so a
        tag is no public page until an editor has published a story with it or opened it on purpose."""
        with_story = TaggedArticle.objects.filter(
            tag=models.OuterRef("pk"), content_object__in=Article.objects.published()
        )
        return self.filter(models.Q(show_early=True) | models.Exists(with_story))


class Tag(TagBase):
    """A topic readers can browse and follow; our own model so it can carry a description."""

    description = models.TextField(
        blank=True, max_length=5000, help_text="Markdown, shown at the top of the tag page for its followers."
    )
    description_html = models.TextField(editable=False, default="")
    show_early = models.BooleanField(
        "show this topic's page before any story is published with it",
        default=False,
        help_text="Otherwise its page, feeds and follow box answer “not found” until a story with this tag "
        "is published.",
    )

    objects = TagQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def save(self, *args, **kwargs):
        self.render_description()
        loaded_slug = getattr(self, "_loaded_slug", None)
        super().save(*args, **kwargs)
        if loaded_slug and loaded_slug != self.slug:
            # Links, bookmarks and feed subscriptions to the old address keep working.
            TagRedirect.objects.update_or_create(old_slug=loaded_slug, defaults={"tag": self})
        # A live tag always wins over a redirect from the same address.
        TagRedirect.objects.filter(old_slug=self.slug).delete()
        self._loaded_slug = self.slug

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._loaded_slug = instance.__dict__.get("slug")
        return instance

    def slugify(self, tag, i=None):
        # A name of symbols alone slugifies to nothing, and the tag page needs an address.
        slug = super().slugify(tag) or "tag"
        return slug if i is None else f"{slug}_{i}"

    def get_absolute_url(self):
        return reverse("articles:tag", kwargs={"slug": self.slug})

    def clean(self):
        try:
            self.render_description()
        except rendering.RenderError as exc:
            raise ValidationError({"description": str(exc)}) from None

    def render_description(self):
        self.description_html = rendering.render_body(self.description) if self.description.strip() else ""


class TagRedirect(models.Model):
    """An address a tag used to answer at (before a rename or a merge), redirected permanently."""

    old_slug = models.SlugField(max_length=100, unique=True, allow_unicode=True)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="redirects")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["old_slug"]

    def __str__(self):
        return f"/tags/{self.old_slug}/ → {self.tag}"


class TaggedArticle(ItemBase):
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="tagged_articles")
    content_object = models.ForeignKey("Article", on_delete=models.CASCADE, related_name="tagged_items")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["content_object", "tag"], name="unique_article_tag"),
        ]


class ImageQuerySet(models.QuerySet):
    def search(self, text):
        """Images whose alt text, caption, credit or file name holds every word of ``text``."""
        images_found = self
        for word in text.split()[:10]:
            images_found = images_found.filter(
                models.Q(alt__icontains=word)
                | models.Q(caption__icontains=word)
                | models.Q(credit__icontains=word)
                | models.Q(original_filename__icontains=word)
            )
        return images_found


class Image(models.Model):
    """A picture of the library: a story's hero, a figure in its body, a gallery's frame.

    The file is the sanitised copy images.prepare_upload() made; renditions are written once, on the
    first save after the file changes, and named in ``renditions`` (images.write_renditions).
    """

    file = models.ImageField(
        upload_to="library/%Y/%m/",
        help_text="JPEG, PNG, WebP or GIF, at least 1200 px wide for sharp social cards.",
    )
    alt = models.CharField(
        "alt text",
        max_length=250,
        help_text="What the image shows, for readers who cannot see it.",
    )
    caption = models.CharField(max_length=300, blank=True, help_text="Shown under the image.")
    credit = models.CharField(max_length=200, help_text="Photographer or agency.")
    # Where the subject is, as fractions of the width and height: crops (teasers, galleries, social
    # cards) keep this point in view.
    focal_x = models.FloatField(
        "focal point across", default=0.5, validators=[MinValueValidator(0), MaxValueValidator(1)]
    )
    focal_y = models.FloatField(
        "focal point down", default=0.5, validators=[MinValueValidator(0), MaxValueValidator(1)]
    )
    original_filename = models.CharField(max_length=255, blank=True, editable=False)
    # SHA-256 of the file as it came, before it was cleaned: the same file imported twice is one image.
    checksum = models.CharField(max_length=64, blank=True, editable=False, db_index=True)
    width = models.PositiveIntegerField(default=0, editable=False)
    height = models.PositiveIntegerField(default=0, editable=False)
    renditions = models.JSONField(default=dict, blank=True, editable=False)
    uploaded_at = models.DateTimeField(default=timezone.now, editable=False)
    uploaded_by = user_stamp()

    PLAIN_TEXT_FIELDS = ("alt", "caption", "credit")

    objects = ImageQuerySet.as_manager()

    class Meta:
        ordering = ["-uploaded_at", "-id"]

    def __str__(self):
        return self.alt or self.original_filename or f"Image {self.pk}"

    def save(self, *args, **kwargs):
        for name in self.PLAIN_TEXT_FIELDS:
            setattr(self, name, rendering.strip_controls(getattr(self, name)))
        # An upload not yet stored: saving the row writes it (FileField.pre_save), so it is this save's.
        new_upload = bool(self.file) and not self.file._committed
        with transaction.atomic():
            try:
                super().save(*args, **kwargs)
            except BaseException:
                if new_upload and self.file._committed:  # stored, then the row failed
                    self.file.storage.delete(self.file.name)
                raise
            if new_upload:
                self._delete_if_rolled_back([self.file.name])
            self.refresh_renditions()
            self.render_stories_again()

    def render_stories_again(self):
        """Bodies hold their figures' alt text, caption and URLs: render the ones showing this again."""
        for article in Article.objects.filter(figures=self):
            article.render_body(force=True)
            Article.objects.filter(pk=article.pk).update(
                body_html=article.body_html,
                renderer_version=article.renderer_version,
                excerpt=article.excerpt,
            )
        LiveEntry.render_again(self.live_figure_in.all())

    def refresh_renditions(self):
        """Write the renditions once, when the file changes: never while serving a page."""
        source = self.file.name if self.file else ""
        if self.renditions.get("source", "") == source:
            return
        stale = self.renditions
        storage = self.file.storage
        self.renditions = images.write_renditions(source, storage) if source else {}
        self.width, self.height = self.renditions.get("width", 0), self.renditions.get("height", 0)
        self._delete_if_rolled_back(images.rendition_names(self.renditions))
        type(self).objects.filter(pk=self.pk).update(
            renditions=self.renditions, width=self.width, height=self.height
        )
        if stale:
            # Once the row names the new set for good: a rolled-back save keeps the old one in use. Robust:
            # a storage blip then is logged, not an error page for an editor whose save went through.
            transaction.on_commit(lambda: images.delete_renditions(stale, storage), robust=True)

    def add_missing_formats(self):
        """Write the formats this image's renditions lack (AVIF, for images from before it)."""
        renditions = images.add_missing_formats(self.renditions, self.file.storage)
        if renditions is not self.renditions:
            self.renditions = renditions
            type(self).objects.filter(pk=self.pk).update(renditions=renditions)
            self.render_stories_again()

    def _delete_if_rolled_back(self, names):
        images.delete_if_rolled_back(names, self.file.storage, self._state.db)

    # Presentation helpers: cheap string work over the stored rendition names, no storage I/O.

    def rendition_urls(self, kind):
        """[(width, url)] of one format's renditions, narrowest first; [] when there are none."""
        # A page asks for the same URLs several times (preload, srcset, fallback, social card, JSON-LD),
        # and storage.url() is not free (an S3 storage signs or formats each one): once per object.
        renditions = self.renditions
        kept_for, urls = self.__dict__.get("_rendition_urls_kept", (None, {}))
        if kept_for is not renditions:  # new renditions written since: start over
            urls = {}
            self.__dict__["_rendition_urls_kept"] = (renditions, urls)
        if kind not in urls:
            storage = self.file.storage
            sizes = renditions.get("sizes", [])
            # A format is offered only when every width has it (AVIF is added to older images later).
            urls[kind] = (
                [(size["width"], storage.url(size[kind])) for size in sizes]
                if sizes and all(size.get(kind) for size in sizes)
                else []
            )
        return urls[kind]

    def srcset(self, kind):
        return ", ".join(f"{url} {width}w" for width, url in self.rendition_urls(kind))

    @property
    def avif_srcset(self):
        return self.srcset("avif")

    @property
    def webp_srcset(self):
        return self.srcset("webp")

    @property
    def jpeg_srcset(self):
        return self.srcset("jpeg")

    @property
    def fallback_url(self):
        """A mid-sized JPEG for browsers that ignore srcset."""
        urls = self.rendition_urls("jpeg")
        fitting = [url for width, url in urls if width <= 1200]
        return (fitting or [url for _, url in urls] or [""])[-1]

    @property
    def largest_url(self):
        """The largest JPEG: what social networks, search engines and "view full size" get."""
        urls = self.rendition_urls("jpeg")
        return urls[-1][1] if urls else ""

    @property
    def thumbnail_url(self):
        urls = self.rendition_urls("webp")
        return urls[0][1] if urls else ""

    @property
    def focus_class(self):
        """The class that crops this picture around its focal point (object-fit: cover pictures)."""
        return figures.focus_class(self.focal_x, self.focal_y)

    @property
    def has_renditions(self):
        return bool(self.renditions.get("sizes"))

    def used_in(self):
        """The stories that show this image, as hero or in the body."""
        return Article.objects.filter(
            models.Q(hero=self) | models.Q(figures=self) | models.Q(live_entries__figures=self)
        ).distinct()


class ArticleQuerySet(models.QuerySet):
    @staticmethod
    def public_at(now, via=""):
        """The one definition of what the public may see: published, and its time has come.

        A Q object, so that a query over another model can ask it of the articles it reaches through
        ``via`` (e.g. ``"content_object__"`` from a tagging row) without a subquery.
        """
        return models.Q(**{f"{via}status": Article.Status.PUBLISHED, f"{via}published_at__lte": now})

    def published(self):
        return self.filter(self.public_at(timezone.now()))

    def scheduled(self, now):
        """Published by an editor, waiting for its time."""
        return self.filter(status=Article.Status.PUBLISHED, published_at__gt=now)

    def timeline(self, now):
        """(when the newest live story went out, when the next scheduled one goes live, when the first
        scheduled story of a month with no live story yet goes live), each None when there is none.

        Two index lookups in one round trip, and a third only when a story is scheduled within the
        newest month; the page cache keeps no listing past the second, and no footer past the third.
        """
        newest = self.filter(self.public_at(now)).order_by("-published_at").values("published_at")[:1]
        upcoming = self.scheduled(now).order_by("published_at").values("published_at")[:1]
        # Any article row carries both subqueries (no article at all, no dates at all).
        row = (
            self.order_by()
            .annotate(newest=models.Subquery(newest), upcoming=models.Subquery(upcoming))
            .values_list("newest", "upcoming")
            .first()
        )
        newest, upcoming = row or (None, None)
        if newest is None or upcoming is None:
            return newest, upcoming, upcoming
        month = timezone.localtime(newest).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        next_month = (month + datetime.timedelta(days=32)).replace(day=1)
        if upcoming >= next_month:
            return newest, upcoming, upcoming
        later_month = self.scheduled(now).filter(published_at__gte=next_month).order_by("published_at")
        return newest, upcoming, later_month.values_list("published_at", flat=True).first()

    def about(self, subject):
        """The stories of one section, author or tag."""
        return self.filter(**{_SUBJECT_LOOKUPS[type(subject)]: subject})

    def about_each(self, model):
        """The stories of the section, author or tag of the outer query, for a Subquery over ``model``."""
        return self.filter(**{_SUBJECT_LOOKUPS[model]: models.OuterRef("pk")})

    def for_teasers(self):
        # Teasers never show the body: leave the largest columns in the database.
        return self.select_related("section", "hero").defer("body", "body_html", "search_vector")

    def open_to(self, user):
        """What a member of the newsroom may open, in the admin or as a preview: an editor (who may publish)
        everything; anyone else the stories published or scheduled, and the drafts they created themselves."""
        if user.has_perm("articles.publish_article"):
            return self.all()
        if not user.is_authenticated:
            return self.published()
        return self.filter(models.Q(status=Article.Status.PUBLISHED) | models.Q(created_by=user))


# How an article reaches each kind of subject a listing, feed or sitemap is about.
_SUBJECT_LOOKUPS = {Section: "section", Author: "authors", Tag: "tagged_items__tag"}


class Article(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

    class Coverage(models.TextChoices):
        NONE = "", "None: an ordinary story"
        LIVE = "live", "Live now"
        ENDED = "ended", "Ended"

    title = models.CharField(max_length=200)
    slug = models.SlugField(
        max_length=200, unique=True, help_text="The last part of the article's address: /news/<slug>/."
    )
    standfirst = models.TextField(
        max_length=400, blank=True, help_text="One or two sentences under the headline; also the summary."
    )
    body = models.TextField(
        max_length=rendering.MAX_BODY_CHARS,
        help_text=(
            "Markdown: ## for section headings, ### for sub-headings, [text](https://…) for links. "
            "“Insert image” adds a picture of the library on its own line, ![alt text](image:42); "
            "add {.wide} or {.full-bleed} after it for a larger layout. Pictures on consecutive lines "
            "make a gallery."
        ),
    )
    body_html = models.TextField(editable=False, default="")
    renderer_version = models.PositiveSmallIntegerField(editable=False, default=0)
    reading_time = models.PositiveSmallIntegerField(editable=False, default=1, help_text="Minutes.")
    excerpt = models.CharField(max_length=300, editable=False, default="")

    hero = models.ForeignKey(
        Image,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,  # the library refuses to delete a published story's (articles/admin)
        related_name="hero_of",
        verbose_name="hero image",
        help_text="From the image library: at least 1200 px wide for sharp social cards.",
    )
    # The library images the body shows, kept by render_body: the image's "used in" list, and which
    # stories to render again when an image's alt text or caption changes.
    figures = models.ManyToManyField(Image, blank=True, editable=False, related_name="figure_in")
    # The embeds the body shows, kept the same way: which stories to render again when one is refreshed.
    embeds = models.ManyToManyField(Embed, blank=True, editable=False, related_name="shown_in")

    section = models.ForeignKey(
        Section, null=True, blank=True, on_delete=models.PROTECT, related_name="articles"
    )
    authors = models.ManyToManyField(Author, blank=True, related_name="articles")
    tags = TaggableManager(through=TaggedArticle, blank=True, ordering=["name"])

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    is_featured = models.BooleanField(
        "featured", default=False, help_text="The newest featured story leads the home page."
    )
    published_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Left empty, publishing sets it to now. A future time schedules the article.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    revised_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When the headline, standfirst or body of the live article last changed.",
    )

    # Live coverage (a keynote, an outage): timestamped entries under the story, newest first
    # (LiveEntry). The times are stamped by save() when the state changes.
    coverage = models.CharField(
        "live coverage",
        max_length=5,
        choices=Coverage.choices,
        blank=True,
        default=Coverage.NONE,
        help_text="“Live now” shows the story's updates as they are posted; “Ended” closes the coverage.",
    )
    coverage_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    coverage_ended_at = models.DateTimeField(null=True, blank=True, editable=False)

    seo_title = models.CharField(
        "SEO title", max_length=70, blank=True, help_text="Overrides the headline in search results."
    )
    seo_description = models.CharField(
        "SEO description",
        max_length=160,
        blank=True,
        help_text="Overrides the standfirst in search results and social cards.",
    )
    created_by = user_stamp()
    updated_by = user_stamp()
    # Kept current by a database trigger on PostgreSQL (migration 0003); stays empty on SQLite.
    search_vector = SearchVectorField(null=True, editable=False)

    # What a reader sees as the story: changing any of these on a live article counts as an update.
    READER_TEXT_FIELDS = ("title", "standfirst", "body")
    PLAIN_TEXT_FIELDS = ("title", "standfirst", "seo_title", "seo_description")

    objects = ArticleQuerySet.as_manager()

    class Meta:
        ordering = ["-published_at", "-id"]
        get_latest_by = "published_at"
        permissions = [("publish_article", "Can publish, schedule and unpublish articles")]
        indexes = [
            models.Index(fields=["status", "-published_at", "-id"], name="article_listing_idx"),
            models.Index(
                fields=["section", "status", "-published_at", "-id"], name="article_section_listing_idx"
            ),
            models.Index(
                fields=["-published_at"],
                condition=models.Q(is_featured=True, status="published"),
                name="article_featured_idx",
            ),
        ]

    def __str__(self):
        return self.title

    def save(self, *args, **kwargs):
        for name in self.PLAIN_TEXT_FIELDS:
            setattr(self, name, rendering.strip_controls(getattr(self, name)))
        self.render_body()
        if self.status == self.Status.PUBLISHED and self.published_at is None:
            self.published_at = timezone.now()
        self.stamp_coverage()
        text = tuple(getattr(self, name) for name in self.READER_TEXT_FIELDS)
        if self.is_live and getattr(self, "_loaded_text", text) != text:
            self.revised_at = timezone.now()
        with transaction.atomic():
            super().save(*args, **kwargs)
            self._loaded_text = text
            self._loaded_status = self.status
            self._loaded_published_at = self.published_at
            figure_ids = self.__dict__.pop("_figure_ids", None)
            if figure_ids is not None:
                self.figures.set(figure_ids)
            embed_urls = self.__dict__.pop("_embed_urls", None)
            if embed_urls is not None:
                self.embeds.set(Embed.objects.filter(url__in=embed_urls) if embed_urls else [])

    def get_absolute_url(self):
        return reverse("articles:detail", kwargs={"slug": self.slug})

    def stamp_coverage(self):
        """coverageStartTime and coverageEndTime for search engines and the page: the coverage starts
        when the story is first marked live (or when it goes out, if later), ends when it is marked ended,
        and is open again if an editor reopens it."""
        now = timezone.now()
        if self.coverage == self.Coverage.NONE:
            self.coverage_started_at = self.coverage_ended_at = None
            return
        if self.coverage_started_at is None:
            self.coverage_started_at = max(now, self.published_at) if self.published_at else now
        if self.coverage == self.Coverage.LIVE:
            self.coverage_ended_at = None
        elif self.coverage_ended_at is None:
            self.coverage_ended_at = max(now, self.coverage_started_at)

    @property
    def is_live_coverage(self):
        return self.coverage == self.Coverage.LIVE

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        # Remember what body_html was rendered from, so saving an unchanged body costs no render.
        loaded = dict(zip(field_names, values, strict=False))
        instance._loaded_row = loaded  # what readers could see before a save: articles/signals.py
        instance._loaded_status = loaded.get("status")  # to tell a publish or unpublish from an edit
        instance._loaded_published_at = loaded.get("published_at")
        if all(name in loaded for name in cls.READER_TEXT_FIELDS):  # not for deferred teaser rows
            instance._rendered_body = loaded["body"]
            instance._loaded_text = tuple(loaded[name] for name in cls.READER_TEXT_FIELDS)
        return instance

    @property
    def is_live(self):
        return _is_live(self.status, self.published_at)

    @property
    def was_live(self):
        """Whether readers could see the story as it was loaded, before the changes being saved."""
        return _is_live(getattr(self, "_loaded_status", None), getattr(self, "_loaded_published_at", None))

    def publishing_problems(self):
        """The publish checklist's messages against what is saved (the admin form checks what is sent)."""
        problems = publishing_problems(
            standfirst=self.standfirst,
            section=self.section_id,
            tags=list(self.tags.all()),
            authors=list(self.authors.all()),
            hero=self.hero,
        )
        return list(problems.values())

    @property
    def modified_at(self):
        """What readers and search engines are told is the last update (dateModified)."""
        return self.revised_at or self.published_at

    def clean(self):
        errors = {}
        try:
            self.render_body()
        except rendering.RenderError as exc:
            errors["body"] = str(exc)
        if errors:
            raise ValidationError(errors)

    def render_body(self, force=False, fetch=True):
        """Render the Markdown body into sanitized HTML; skipped when nothing changed.

        New embeds are fetched from their providers first (``fetch``): call it outside a transaction,
        as save() does before its own.
        """
        up_to_date = (
            getattr(self, "_rendered_body", None) == self.body
            and self.renderer_version == rendering.RENDERER_VERSION
        )
        if up_to_date and not force:
            return
        rendered = self._rendered(fetch=fetch)
        self.body_html = rendered.html
        self.renderer_version = rendering.RENDERER_VERSION
        self.reading_time = rendering.reading_time_minutes(self.body)
        self.excerpt = rendering.plain_excerpt(self.body_html)
        self._rendered_body = self.body
        self._figure_ids = rendered.image_ids
        self._embed_urls = rendered.embed_urls

    def rendered_body_html(self):
        """The body as it would be stored, without storing it: the admin's preview."""
        return self._rendered().html

    def _rendered(self, fetch=True):
        rendered = rendering.render_story_limited(self.body, story_media(self.body, fetch=fetch))
        if rendered.missing_image_ids:
            numbers = ", ".join(f"image:{number}" for number in rendered.missing_image_ids)
            raise rendering.RenderError(
                f"The body shows {numbers}, which the image library does not have. "
                "Pick the picture again with “Insert image”."
            )
        return rendered

    # The hero as templates, feeds and emails ask for it; empty strings without one.

    @property
    def hero_social_url(self):
        return self.hero.largest_url if self.hero else ""

    @property
    def hero_thumbnail_url(self):
        return self.hero.thumbnail_url if self.hero else ""

    @property
    def description(self):
        return self.seo_description or self.standfirst or self.excerpt


def story_media(body, fetch=True):
    """The library images and the embeds a body shows, ready for the renderer's child process (which
    has no database and no network): embeds not stored yet are fetched here, in this process, first."""
    numbers = figures.references(body)
    library = Image.objects.filter(pk__in=numbers) if numbers else ()
    embeds = embeds_for(lone_urls(body), fetch=fetch)
    return rendering.StoryMedia(
        images={image.pk: figures.FigureImage.of(image) for image in library},
        embeds={url: facades.facade_html(embed) for url, embed in embeds.items()},
    )


def _is_live(status, published_at):
    return status == Article.Status.PUBLISHED and published_at is not None and published_at <= timezone.now()


# A live update is a few lines; a whole story belongs in the story.
MAX_LIVE_ENTRY_CHARS = 5000
# Search engines show a headline of at most 110 characters.
MAX_LIVE_HEADLINE_CHARS = 110

# Readers follow topics: a story needs a handful, and a list of hundreds is a paste gone wrong.
MAX_TAGS_PER_ARTICLE = 20


def check_tag_names(names):
    """Raise ValidationError, before any tag is created, for too many tags or a name too long to keep."""
    if len(names) > MAX_TAGS_PER_ARTICLE:
        raise ValidationError(
            f"A story takes at most {MAX_TAGS_PER_ARTICLE} tags; this one has {len(names):,}. "
            "Keep the topics readers would follow."
        )
    limit = Tag._meta.get_field("name").max_length
    for name in names:
        if len(name) > limit:
            raise ValidationError(
                f"A tag is at most {limit} characters; “{name[:40]}…” has {len(name):,}.",
            )
        if not any(character.isalnum() for character in name):
            raise ValidationError(f"A tag needs a letter or a digit: “{name}” has none.")


def publishing_problems(*, standfirst, section, tags, authors, hero):
    """What an article still lacks before readers may see it: {field name: message}, one per item."""
    problems = {}
    if not (standfirst or "").strip():
        problems["standfirst"] = "Add a standfirst: the summary under the headline and in search results."
    if not section:
        problems["section"] = "Choose a section, so the story appears in the site's navigation."
    if not tags:
        problems["tags"] = "Add at least one tag, so followers of that topic hear about the story."
    if not authors:
        problems["authors"] = "Add an author for the byline."
    # The library asks for both; an image from before it (moved in by migration 0013) may lack them.
    if hero and not (hero.alt.strip() and hero.credit.strip()):
        problems["hero"] = "Give the hero image its alt text and credit in the image library."
    return problems


class Correction(models.Model):
    """A dated note to readers that a published story was corrected or updated, shown on its page."""

    class Kind(models.TextChoices):
        CORRECTION = "correction", "Correction"
        UPDATE = "update", "Update"

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="corrections")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.CORRECTION)
    note = models.TextField(
        max_length=1000, help_text="Plain text: what was wrong and what the story now says, or what is new."
    )
    noted_at = models.DateTimeField("date", default=timezone.now)
    created_by = user_stamp()

    class Meta:
        ordering = ["-noted_at", "-id"]
        verbose_name = "correction or update"
        verbose_name_plural = "corrections and updates"

    def __str__(self):
        return f"{self.get_kind_display()} of {self.noted_at:%d %b %Y}"

    def save(self, *args, **kwargs):
        self.note = rendering.strip_controls(self.note)
        # The story's "Updated" time, dateModified and feed dates follow the newest note. Stamped before
        # the note is saved, so nothing that reacts to the save sees the old time.
        # A note dated before the story went out (on a draft, say) is no update to readers.
        Article.objects.filter(
            models.Q(revised_at__isnull=True) | models.Q(revised_at__lt=self.noted_at),
            pk=self.article_id,
            status=Article.Status.PUBLISHED,
            published_at__lt=self.noted_at,
        ).update(revised_at=self.noted_at)
        super().save(*args, **kwargs)


class LiveEntry(models.Model):
    """One update of a live story: a few lines of Markdown (the story body's pipeline, so figures and
    embeds work), timestamped, newest first; key points are pinned above the updates and are what
    followers of the story are emailed as they happen."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="live_entries")
    body = models.TextField(
        "update",
        max_length=MAX_LIVE_ENTRY_CHARS,
        validators=[MaxLengthValidator(MAX_LIVE_ENTRY_CHARS)],  # a TextField's max_length binds forms only
        help_text="Markdown, a few lines. A link on its own line embeds it; ![alt](image:42) is a picture.",
    )
    body_html = models.TextField(editable=False, default="")
    renderer_version = models.PositiveSmallIntegerField(editable=False, default=0)
    # The plain text, and its first words as the update's headline: for search engines and emails.
    text = models.TextField(editable=False, default="")
    headline = models.CharField(max_length=MAX_LIVE_HEADLINE_CHARS, editable=False, default="")
    is_key_point = models.BooleanField(
        "key point",
        default=False,
        help_text="Pinned at the top of the story and emailed at once to those who follow it.",
    )
    # When it became a key point (posted as one, or pinned later): followers are sent the key points
    # made since they followed, each once.
    key_point_at = models.DateTimeField(null=True, blank=True, editable=False)
    author = models.ForeignKey(
        Author, null=True, blank=True, on_delete=models.SET_NULL, related_name="live_entries"
    )
    posted_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    # As for a story's body: which entries to render again when a picture or an embed changes.
    figures = models.ManyToManyField(Image, blank=True, editable=False, related_name="live_figure_in")
    embeds = models.ManyToManyField(Embed, blank=True, editable=False, related_name="live_shown_in")
    created_by = user_stamp()

    class Meta:
        ordering = ["-posted_at", "-id"]
        verbose_name = "live update"
        indexes = [models.Index(fields=["article", "-posted_at", "-id"], name="live_entry_timeline_idx")]

    def __str__(self):
        return self.headline or f"Update {self.pk}"

    def save(self, *args, **kwargs):
        self.render_body()
        if not self.is_key_point:
            self.key_point_at = None
        elif self.key_point_at is None:
            self.key_point_at = self.posted_at if self._state.adding else timezone.now()
        with transaction.atomic():
            super().save(*args, **kwargs)
            if (figure_ids := self.__dict__.pop("_figure_ids", None)) is not None:
                self.figures.set(figure_ids)
            if (embed_urls := self.__dict__.pop("_embed_urls", None)) is not None:
                self.embeds.set(Embed.objects.filter(url__in=embed_urls) if embed_urls else [])

    def get_absolute_url(self):
        return f"{self.article.get_absolute_url()}#{self.anchor}"

    @property
    def anchor(self):
        return f"update-{self.pk}"

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        loaded = dict(zip(field_names, values, strict=False))
        if "body" in loaded:
            instance._rendered_body = loaded["body"]
        return instance

    @classmethod
    def render_again(cls, entries, fetch=True):
        """Updates showing a picture or an embed that changed, rendered again (no signal: the caller
        purges their stories)."""
        for entry in entries:
            entry.render_body(force=True, fetch=fetch)
            cls.objects.filter(pk=entry.pk).update(
                body_html=entry.body_html, renderer_version=entry.renderer_version
            )

    def clean(self):
        try:
            self.render_body()
        except rendering.RenderError as exc:
            raise ValidationError({"body": str(exc)}) from exc

    def render_body(self, force=False, fetch=True):
        self.body = rendering.normalise(self.body)
        up_to_date = (
            getattr(self, "_rendered_body", None) == self.body
            and self.renderer_version == rendering.RENDERER_VERSION
        )
        if up_to_date and not force:
            return
        rendered = Article(body=self.body)._rendered(fetch=fetch)
        self.body_html = rendered.html
        self.renderer_version = rendering.RENDERER_VERSION
        # The paragraphs: a picture's caption and credit are no headline.
        self.text = rendering.excerpt_of_paragraphs(
            rendering.paragraph_texts(self.body_html), MAX_LIVE_ENTRY_CHARS
        )
        self.headline = first_sentence(self.text, MAX_LIVE_HEADLINE_CHARS) or "Update"
        self._rendered_body = self.body
        self._figure_ids = rendered.image_ids
        self._embed_urls = rendered.embed_urls


def first_sentence(text, max_chars):
    """An update's headline: its first sentence when that is short enough, else its first words."""
    match = re.match(r"(.+?[.!?])(?:\s|$)", text)
    if match and len(match.group(1)) <= max_chars:
        return match.group(1)
    return rendering.truncate_on_word(text, max_chars)


class Revision(models.Model):
    """A snapshot of an article as saved: what the history page diffs and what "Restore" brings back.

    Our own small model rather than django-reversion or django-simple-history: a snapshot must hold the
    tag names (taggit's manager is not a plain many-to-many those libraries serialise and restore), and a
    restore must go through Article.save so body_html is rendered again by the current pipeline.
    """

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="revisions")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = user_stamp()
    title = models.CharField(max_length=200)
    body = models.TextField()
    # The other editorial fields, tags by name, section and authors by id.
    snapshot = models.JSONField(default=dict)

    # Restored as they were: the article's text fields beside the title and body kept in their own
    # columns. Publishing state (status, time, featured) is never rolled back by a restore.
    CONTENT_FIELDS = tuple(name for name in Article.PLAIN_TEXT_FIELDS if name != "title")

    class Meta:
        ordering = ["-created_at", "-id"]
        get_latest_by = "created_at"

    def __str__(self):
        return f"{self.title} ({self.created_at:%d %b %Y %H:%M})"

    @classmethod
    def record(cls, article, user=None):
        """Keep the article's state as it is now in the database, tags and authors included."""
        revision = cls.capture(article, user)
        revision.save()
        return revision

    @classmethod
    def capture(cls, article, user=None):
        """The article's state as it is now, as a revision not (yet) kept: what "current" means when
        comparing, even after a change made outside the admin that kept no revision."""
        snapshot = {name: getattr(article, name) for name in cls.CONTENT_FIELDS}
        tags = list(article.tags.all())
        snapshot.update(
            tags=sorted(tag.name for tag in tags),
            # Slugs too: a tag merged away later is found again through its old address.
            tag_slugs={tag.name: tag.slug for tag in tags},
            section_id=article.section_id,
            author_ids=sorted(article.authors.values_list("pk", flat=True)),
            hero_id=article.hero_id,
            status=article.status,
            published_at=article.published_at.isoformat() if article.published_at else None,
        )
        return cls(
            article=article,
            created_by=user if user and user.is_authenticated else None,
            title=article.title,
            body=article.body,
            snapshot=snapshot,
        )

    def restore(self, user=None):
        """Put this revision's content back on the article, and record that as a new revision."""
        article = self.article
        article.title = self.title
        article.body = self.body
        for name in self.CONTENT_FIELDS:
            if name in self.snapshot:
                setattr(article, name, self.snapshot[name])
        section_id = self.snapshot.get("section_id")
        if section_id is None or Section.objects.filter(pk=section_id).exists():
            article.section_id = section_id
        if "hero_id" in self.snapshot:  # older snapshots named the file, before the library
            hero_id = self.snapshot["hero_id"]
            if hero_id is None or Image.objects.filter(pk=hero_id).exists():
                article.hero_id = hero_id
        if user is not None:
            article.updated_by = user
        article.save()
        article.authors.set(Author.objects.filter(pk__in=self.snapshot.get("author_ids", [])))
        article.tags.set(restorable_tags(self.snapshot.get("tags", []), self.snapshot.get("tag_slugs", {})))
        return Revision.record(article, user)


def restorable_tags(names, slugs):
    """The tags a revision named: the same tag even if renamed since, or the one it was merged into."""
    tags = []
    for name in names:
        slug = slugs.get(name) or slugify(name, allow_unicode=True)
        tag = Tag.objects.filter(slug=slug).first()
        if tag is None:
            redirect = TagRedirect.objects.select_related("tag").filter(old_slug=slug).first()
            tag = redirect.tag if redirect else None
        tag = tag or Tag.objects.filter(name=name).first() or Tag.objects.create(name=name)
        tags.append(tag)
    return tags


def new_link_key():
    """A subscriber's link key: random, so links name nobody (see articles/following/)."""
    return secrets.token_urlsafe(16)


class Frequency(models.TextChoices):
    """How often one follow is emailed about; each follow of an address has its own."""

    IMMEDIATE = "immediate", "As soon as a story is published"
    DAILY = "daily", "Daily digest"
    WEEKLY = "weekly", "Weekly digest"


class Subscriber(models.Model):
    """A confirmed email address and what it follows. Addresses that have not confirmed are only in their
    FollowRequests (rows from before those existed may still be unconfirmed: they are sent nothing)."""

    # Stored normalised (lower-cased), so the unique constraint is case-insensitive.
    email = models.EmailField(max_length=254, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # When the last daily and weekly digest periods were closed (sent, or due with nothing new).
    last_daily_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_weekly_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Signed into the settings and unsubscribe links of every email; dies with the row.
    link_key = models.CharField(max_length=32, unique=True, default=new_link_key, editable=False)

    class Meta:
        ordering = ["email"]

    def __str__(self):
        return self.email

    @property
    def is_confirmed(self):
        return self.confirmed_at is not None


FOLLOW_KINDS = ("tag", "author", "section", "article")


def _one_target(name):
    """Exactly one of the four targets is set."""
    options = [
        models.Q(**{f"{kind}__isnull": kind != chosen for kind in FOLLOW_KINDS}) for chosen in FOLLOW_KINDS
    ]
    condition = options[0]
    for option in options[1:]:
        condition |= option
    return models.CheckConstraint(condition=condition, name=name)


def _target_field(model, related_name):
    return models.ForeignKey(
        model, null=True, blank=True, on_delete=models.CASCADE, related_name=related_name
    )


class FollowTarget(models.Model):
    """What a follow, or a request for one, is about: a tag, an author, a section or one story (its
    corrections and updates). Exactly one is set (a check constraint in each table)."""

    frequency = models.CharField(max_length=10, choices=Frequency.choices, default=Frequency.IMMEDIATE)

    class Meta:
        abstract = True

    @property
    def kind(self):
        return next(kind for kind in FOLLOW_KINDS if getattr(self, f"{kind}_id") is not None)

    @property
    def target(self):
        return getattr(self, self.kind)

    @property
    def target_name(self):
        target = self.target
        return target.title if self.kind == "article" else target.name

    @classmethod
    def target_filter(cls, target):
        """The lookup that finds rows about `target` (a Tag, Author, Section or Article)."""
        return {TARGET_KIND[type(target)]: target}


class Follow(FollowTarget):
    Frequency = Frequency

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="follows")
    tag = _target_field(Tag, "follows")
    author = _target_field(Author, "follows")
    section = _target_field(Section, "follows")
    article = _target_field("Article", "follows")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            _one_target("follow_one_target"),
            *(
                models.UniqueConstraint(
                    fields=["subscriber", kind],
                    condition=models.Q(**{f"{kind}__isnull": False}),
                    name=f"unique_follow_{kind}",
                )
                for kind in FOLLOW_KINDS
            ),
        ]

    def __str__(self):
        return f"{self.subscriber} follows {self.target}"


class Delivery(models.Model):
    """One row per (subscriber, article) ever emailed: the source of truth against sending twice."""

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="deliveries")
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="deliveries")
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [models.UniqueConstraint(fields=["subscriber", "article"], name="unique_delivery")]

    def __str__(self):
        return f"{self.article} to {self.subscriber}"


class NoteDelivery(models.Model):
    """One row per (subscriber, correction or update note) emailed: each note reaches an inbox once."""

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="note_deliveries")
    correction = models.ForeignKey(Correction, on_delete=models.CASCADE, related_name="deliveries")
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "note deliveries"
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "correction"], name="unique_note_delivery")
        ]

    def __str__(self):
        return f"{self.correction} to {self.subscriber}"


class KeyPointDelivery(models.Model):
    """One row per (subscriber, key point of a live story) emailed: each key point reaches an inbox once,
    whether alone or folded into the story's end digest."""

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="key_point_deliveries")
    entry = models.ForeignKey(LiveEntry, on_delete=models.CASCADE, related_name="deliveries")
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "key point deliveries"
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "entry"], name="unique_key_point_delivery")
        ]

    def __str__(self):
        return f"{self.entry} to {self.subscriber}"


class CoverageDigestDelivery(models.Model):
    """One row per (subscriber, story) whose end-of-coverage digest was emailed: one digest per story,
    however often its coverage is reopened and ended."""

    subscriber = models.ForeignKey(
        Subscriber, on_delete=models.CASCADE, related_name="coverage_digest_deliveries"
    )
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="coverage_digest_deliveries")
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "coverage digest deliveries"
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "article"], name="unique_coverage_digest_delivery")
        ]

    def __str__(self):
        return f"Digest of {self.article} to {self.subscriber}"


class FollowRequest(FollowTarget):
    """One request to follow something by email, as it was asked: its confirmation link confirms this and
    nothing else, whatever else is asked for the same address meanwhile (articles/following/)."""

    email = models.EmailField(max_length=254)  # normalised, as Subscriber.email
    tag = _target_field(Tag, "follow_requests")
    author = _target_field(Author, "follow_requests")
    section = _target_field(Section, "follow_requests")
    article = _target_field("Article", "follow_requests")
    # SHA-256 of the random token in the confirmation link: the link is looked up by it, and a copy of
    # the database confirms nothing.
    token_digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [_one_target("follow_request_one_target")]

    def __str__(self):
        return f"{self.email} asks to follow {self.target}"


class Suppression(models.Model):
    """An address we must not mail, or one whose soft bounces are being counted, from the email
    service's webhooks (articles/following/bounces.py). Keyed by address, not by subscriber: a bounce
    may come for an address that has since left, and must still hold if it follows again."""

    class Reason(models.TextChoices):
        HARD_BOUNCE = "bounced", "Hard bounce"
        COMPLAINT = "complained", "Spam complaint"
        SOFT_BOUNCES = "soft_bounces", "Repeated soft bounces"
        REJECTED = "rejected", "Refused by the email service"

    email = models.EmailField(max_length=254, unique=True)  # normalised, as Subscriber.email
    reason = models.CharField(max_length=20, choices=Reason.choices, blank=True)
    detail = models.CharField(max_length=500, blank=True, help_text="What the email service said.")
    soft_bounces = models.PositiveIntegerField(default=0)
    # Null while soft bounces are only being counted: the address is still mailed.
    suppressed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_event_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return self.email


TARGET_KIND = {Tag: "tag", Author: "author", Section: "section", Article: "article"}
