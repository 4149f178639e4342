from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils import timezone
from taggit.managers import TaggableManager
from taggit.models import ItemBase, TagBase

from articles import images, rendering


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


class Tag(TagBase):
    """A topic readers can browse and follow; our own model so it can carry a description."""

    description = models.TextField(
        blank=True, max_length=5000, help_text="Markdown, shown at the top of the tag page for its followers."
    )
    description_html = models.TextField(editable=False, default="")

    class Meta:
        ordering = ["name"]

    def save(self, *args, **kwargs):
        self.render_description()
        super().save(*args, **kwargs)

    def get_absolute_url(self):
        return reverse("articles:tag", kwargs={"slug": self.slug})

    def clean(self):
        try:
            self.render_description()
        except rendering.RenderError as exc:
            raise ValidationError({"description": str(exc)}) from None

    def render_description(self):
        self.description_html = rendering.render_body(self.description) if self.description.strip() else ""


class TaggedArticle(ItemBase):
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="tagged_articles")
    content_object = models.ForeignKey("Article", on_delete=models.CASCADE, related_name="tagged_items")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["content_object", "tag"], name="unique_article_tag"),
        ]


class ArticleQuerySet(models.QuerySet):
    def published(self):
        """The one definition of what the public may see: published, and its time has come."""
        return self.filter(status=Article.Status.PUBLISHED, published_at__lte=timezone.now())

    def for_teasers(self):
        # Teasers never show the body: leave the largest columns in the database.
        return self.select_related("section").defer("body", "body_html", "search_vector")


class Article(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

    title = models.CharField(max_length=200)
    slug = models.SlugField(
        max_length=200, unique=True, help_text="The last part of the article's address: /news/<slug>/."
    )
    standfirst = models.TextField(
        max_length=400, blank=True, help_text="One or two sentences under the headline; also the summary."
    )
    body = models.TextField(
        max_length=rendering.MAX_BODY_CHARS,
        help_text="Markdown: ## for section headings, ### for sub-headings, [text](https://…) for links.",
    )
    body_html = models.TextField(editable=False, default="")
    renderer_version = models.PositiveSmallIntegerField(editable=False, default=0)
    reading_time = models.PositiveSmallIntegerField(editable=False, default=1, help_text="Minutes.")
    excerpt = models.CharField(max_length=300, editable=False, default="")

    hero_image = models.ImageField(
        upload_to="articles/%Y/%m/",
        blank=True,
        help_text="JPEG, PNG, WebP or GIF, at least 1200 px wide for sharp social cards.",
    )
    hero_renditions = models.JSONField(default=dict, blank=True, editable=False)
    hero_alt = models.CharField(
        "hero alt text",
        max_length=250,
        blank=True,
        help_text="What the image shows, for readers who cannot see it. Required with an image.",
    )
    hero_caption = models.CharField(max_length=300, blank=True)
    hero_credit = models.CharField(max_length=200, blank=True, help_text="Photographer or agency.")

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

    seo_title = models.CharField(
        "SEO title", max_length=70, blank=True, help_text="Overrides the headline in search results."
    )
    seo_description = models.CharField(
        "SEO description",
        max_length=160,
        blank=True,
        help_text="Overrides the standfirst in search results and social cards.",
    )
    # Kept current by a database trigger on PostgreSQL (migration 0003); stays empty on SQLite.
    search_vector = SearchVectorField(null=True, editable=False)

    # What a reader sees as the story: changing any of these on a live article counts as an update.
    READER_TEXT_FIELDS = ("title", "standfirst", "body")
    PLAIN_TEXT_FIELDS = (
        "title",
        "standfirst",
        "hero_alt",
        "hero_caption",
        "hero_credit",
        "seo_title",
        "seo_description",
    )

    objects = ArticleQuerySet.as_manager()

    class Meta:
        ordering = ["-published_at", "-id"]
        get_latest_by = "published_at"
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
        text = tuple(getattr(self, name) for name in self.READER_TEXT_FIELDS)
        if self.is_live and getattr(self, "_loaded_text", text) != text:
            self.revised_at = timezone.now()
        super().save(*args, **kwargs)
        self._loaded_text = text
        self.refresh_renditions()

    def get_absolute_url(self):
        return reverse("articles:detail", kwargs={"slug": self.slug})

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        # Remember what body_html was rendered from, so saving an unchanged body costs no render.
        loaded = dict(zip(field_names, values, strict=False))
        if all(name in loaded for name in cls.READER_TEXT_FIELDS):  # not for deferred teaser rows
            instance._rendered_body = loaded["body"]
            instance._loaded_text = tuple(loaded[name] for name in cls.READER_TEXT_FIELDS)
        return instance

    @property
    def is_live(self):
        return (
            self.status == self.Status.PUBLISHED
            and self.published_at is not None
            and self.published_at <= timezone.now()
        )

    @property
    def modified_at(self):
        """What readers and search engines are told is the last update (dateModified)."""
        return self.revised_at or self.published_at

    def clean(self):
        errors = {}
        if self.hero_image and not self.hero_alt.strip():
            errors["hero_alt"] = "Describe the hero image for readers who cannot see it."
        try:
            self.render_body()
        except rendering.RenderError as exc:
            errors["body"] = str(exc)
        if errors:
            raise ValidationError(errors)

    def render_body(self, force=False):
        """Render the Markdown body into sanitized HTML; skipped when nothing changed."""
        up_to_date = (
            getattr(self, "_rendered_body", None) == self.body
            and self.renderer_version == rendering.RENDERER_VERSION
        )
        if up_to_date and not force:
            return
        self.body_html = rendering.render_body(self.body)
        self.renderer_version = rendering.RENDERER_VERSION
        self.reading_time = rendering.reading_time_minutes(self.body)
        self.excerpt = rendering.plain_excerpt(self.body_html)
        self._rendered_body = self.body

    def refresh_renditions(self):
        """Write the hero renditions once, when the image changes: never while serving a page."""
        source = self.hero_image.name if self.hero_image else ""
        if self.hero_renditions.get("source", "") == source:
            return
        stale = self.hero_renditions
        storage = self.hero_image.storage
        self.hero_renditions = images.write_renditions(source, storage) if source else {}
        type(self).objects.filter(pk=self.pk).update(hero_renditions=self.hero_renditions)
        if stale:
            images.delete_renditions(stale, storage)

    # Presentation helpers: cheap string work over the stored rendition names, no storage I/O.

    def _rendition_urls(self, kind):
        storage = self.hero_image.storage
        return [(size["width"], storage.url(size[kind])) for size in self.hero_renditions.get("sizes", [])]

    def hero_srcset(self, kind):
        return ", ".join(f"{url} {width}w" for width, url in self._rendition_urls(kind))

    @property
    def hero_webp_srcset(self):
        return self.hero_srcset("webp")

    @property
    def hero_jpeg_srcset(self):
        return self.hero_srcset("jpeg")

    @property
    def hero_fallback_url(self):
        """A mid-sized JPEG for browsers that ignore srcset."""
        urls = self._rendition_urls("jpeg")
        fitting = [url for width, url in urls if width <= 1200]
        return (fitting or [url for _, url in urls] or [""])[-1]

    @property
    def hero_social_url(self):
        """The largest JPEG: what social networks and search engines fetch."""
        urls = self._rendition_urls("jpeg")
        return urls[-1][1] if urls else ""

    @property
    def hero_thumbnail_url(self):
        urls = self._rendition_urls("webp")
        return urls[0][1] if urls else ""

    @property
    def description(self):
        return self.seo_description or self.standfirst or self.excerpt


class Subscriber(models.Model):
    """An email address following tags; nothing but its confirmation is sent until it is confirmed."""

    class Frequency(models.TextChoices):
        IMMEDIATE = "immediate", "As soon as a story is published"
        DAILY = "daily", "Daily digest"
        WEEKLY = "weekly", "Weekly digest"

    # Stored normalised (lower-cased), so the unique constraint is case-insensitive.
    email = models.EmailField(max_length=254, unique=True)
    frequency = models.CharField(max_length=10, choices=Frequency.choices, default=Frequency.IMMEDIATE)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmation_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_digest_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["email"]
        indexes = [models.Index(fields=["frequency", "confirmed_at"], name="subscriber_sending_idx")]

    def __str__(self):
        return self.email

    @property
    def is_confirmed(self):
        return self.confirmed_at is not None


class Follow(models.Model):
    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="follows")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="follows")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["subscriber", "tag"], name="unique_follow")]

    def __str__(self):
        return f"{self.subscriber} follows {self.tag}"


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
