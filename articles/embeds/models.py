"""The Embed model: one provider URL and what we stored about it (imported into articles/models.py)."""

import datetime
import logging
import time

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.text import slugify

from articles import images
from articles.cachekeys import purge_on_commit
from articles.embeds import fetching, metadata, providers
from articles.rendering import normalise

logger = logging.getLogger(__name__)

# A failed fetch is tried again when a story showing it is saved this long after (refresh_embeds any time).
RETRY_AFTER = 600
# At most this many new embeds are fetched by one save, and within this many seconds: the rest show as
# link cards until `manage.py refresh_embeds` (or a later save) fetches them.
MAX_FETCHES_PER_SAVE = 12
FETCH_BUDGET_PER_SAVE = 15.0


class Embed(models.Model):
    class Kind(models.TextChoices):
        VIDEO = providers.VIDEO, "Video"
        POST = providers.POST, "Post"
        CODE = providers.CODE, "Code"

    class Status(models.TextChoices):
        OK = "ok", "Fetched"
        FAILED = "failed", "Failed: shown as a link"

    url = models.CharField(max_length=providers.MAX_URL_LENGTH, unique=True, editable=False)
    provider = models.CharField(
        max_length=20, choices=[(p.key, p.name) for p in providers.PROVIDERS], editable=False
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, editable=False)
    title = models.CharField(max_length=metadata.MAX_TITLE, blank=True)
    author_name = models.CharField(max_length=metadata.MAX_AUTHOR, blank=True)
    author_url = models.URLField(max_length=metadata.MAX_URL, blank=True)
    text = models.TextField(blank=True, help_text="A post's text, or a gist's first lines of code.")
    published = models.DateField(null=True, blank=True)
    thumbnail = models.FileField(upload_to="embeds/%Y/%m/", blank=True, editable=False)
    width = models.PositiveIntegerField(default=0, editable=False)
    height = models.PositiveIntegerField(default=0, editable=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.FAILED, editable=False)
    error = models.CharField(max_length=300, blank=True, editable=False)
    fetched_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-fetched_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=["ok", "failed"]), name="embed_status_known")
        ]

    def __str__(self):
        return self.title or self.url

    @property
    def match(self):
        return providers.match(self.url)

    @property
    def provider_name(self):
        provider = providers.BY_KEY.get(self.provider)
        return provider.name if provider else "Link"

    @property
    def is_ok(self):
        return self.status == self.Status.OK

    def label(self):
        """How a feed or an email names it: "Title (Provider)", or the provider and the URL."""
        if self.is_ok and (self.title or self.author_name):
            return f"{self.title or self.author_name} ({self.provider_name})"
        return f"{self.provider_name}: {self.url}"

    def refresh(self):
        """Fetch the metadata (and thumbnail) again and save; on failure keep what a good fetch stored.

        Network work: call it outside a database transaction.
        """
        match = self.match
        if match is None:
            self._failed("this address is no longer one we embed")
            return
        self.provider, self.kind = match.provider.key, match.provider.kind
        try:
            found = metadata.fetch(match)
        except fetching.FetchError as exc:
            self._failed(str(exc))
            return
        note = ""
        thumbnail = None
        if found.thumbnail_url:
            try:
                thumbnail = self._download_thumbnail(match, found.thumbnail_url)
            except (fetching.FetchError, ValidationError) as exc:
                note = f"No thumbnail: {_message(exc)}"
        for name in ("title", "author_name", "author_url", "text", "published"):
            setattr(self, name, getattr(found, name))
        old_thumbnail = self.thumbnail.name if self.thumbnail else ""
        if thumbnail:
            data, self.width, self.height = thumbnail
            stem = slugify(f"{match.provider.key}-{match.id}")[:60] or "embed"
            self.thumbnail.save(f"{stem}.webp", ContentFile(data), save=False)
        elif not note or not old_thumbnail:
            self.thumbnail, self.width, self.height = "", 0, 0
        self.status, self.error, self.fetched_at = self.Status.OK, note[:300], timezone.now()
        self._store()
        if old_thumbnail and old_thumbnail != (self.thumbnail.name if self.thumbnail else ""):
            self.thumbnail.storage.delete(old_thumbnail)

    def _failed(self, message):
        logger.info("Embed %s: %s", self.url[:200], message)
        self.error = message[:300]
        self.fetched_at = timezone.now()
        if self.status != self.Status.OK:  # a good fetch is kept through a provider's bad day
            self.status = self.Status.FAILED
        self._store()

    def _store(self):
        """Save; when another save stored the same URL meanwhile, this fetch's values replace its."""
        try:
            with transaction.atomic():
                self.save()
        except IntegrityError:
            if self.pk is not None:
                raise
            self.pk = type(self).objects.values_list("pk", flat=True).get(url=self.url)
            self._state.adding = False
            self.save()

    def _download_thumbnail(self, match, url):
        host = fetching.urlsplit(url).hostname or ""
        if not match.thumbnail_allowed(host):
            raise fetching.FetchError(f"refused a thumbnail from {host}")
        data, content_type = fetching.get(
            url, frozenset({host}), max_bytes=fetching.MAX_THUMBNAIL_BYTES, accept="image/*"
        )
        if not content_type.startswith("image/"):
            raise fetching.FetchError(f"the thumbnail is not an image ({content_type or 'no type'})")
        return images.prepare_thumbnail(data)

    def shown_values(self):
        """What a facade is built from: a change means the stories showing it are out of date."""
        fields = ("status", "title", "author_name", "author_url", "text", "published", "width", "height")
        return tuple(getattr(self, name) for name in fields) + (self.thumbnail.name or "",)

    def refresh_everywhere(self):
        """``refresh``, then the stories showing this embed rendered again if what it shows changed.

        Network work: call it outside a database transaction.
        """
        before = self.shown_values()
        self.refresh()
        if self.shown_values() != before:
            self.render_stories_again()

    def render_stories_again(self):
        """Bodies hold their embeds' facades: render the ones showing this one again."""
        for article in self.shown_in.all():
            article.render_body(force=True, fetch=False)
            type(article).objects.filter(pk=article.pk).update(
                body_html=article.body_html,
                renderer_version=article.renderer_version,
                excerpt=article.excerpt,
            )
        entries = list(self.live_shown_in.all())
        self.live_shown_in.model.render_again(entries, fetch=False)
        # update() sends no signal: the pages that showed the old facade are out of date from now.
        stories = {article.pk for article in self.shown_in.all()} | {entry.article_id for entry in entries}
        purge_on_commit("embed fetched", sorted(stories))


def _message(exc):
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


def lone_urls(body):
    """The provider URLs written alone in a paragraph of ``body``, in order, each once."""
    found = []
    for block in normalise(body).split("\n\n"):
        candidate = block.strip()
        if block.lstrip("\n").startswith(("    ", "\t")):
            continue  # indented code, which the renderer leaves as code
        if candidate and "\n" not in candidate and providers.match(candidate):
            found.append(candidate)
    return list(dict.fromkeys(found))


def embeds_for(urls, *, fetch=True):
    """{url: Embed} for these matched URLs: stored rows, new ones fetched (at most MAX_FETCHES_PER_SAVE,
    within FETCH_BUDGET_PER_SAVE seconds), failed ones older than RETRY_AFTER fetched again.

    With ``fetch`` False nothing reaches the network: rows missing are unsaved link cards.
    Network work: call it outside a database transaction.
    """
    if not urls:
        return {}
    rows = {embed.url: embed for embed in Embed.objects.filter(url__in=urls)}
    deadline, fetches = time.monotonic() + FETCH_BUDGET_PER_SAVE, 0
    retry_before = timezone.now() - datetime.timedelta(seconds=RETRY_AFTER)
    for url in urls:
        embed = rows.get(url)
        stale = embed is not None and not embed.is_ok and (embed.fetched_at or retry_before) <= retry_before
        if embed is not None and not stale:
            continue
        match = providers.match(url)
        embed = embed or Embed(url=url, provider=match.provider.key, kind=match.provider.kind)
        if fetch and fetches < MAX_FETCHES_PER_SAVE and time.monotonic() < deadline:
            fetches += 1
            embed.refresh()
        elif embed.pk is None and fetch:
            embed.error = "Not fetched yet: too many new embeds in one save (refresh_embeds fetches it)."
            embed._store()
        rows[url] = embed
    return rows


def seed_embeds(entries, folder):
    """Store embeds from known metadata (the demo's, in articles/demo/embeds/), with no network: each
    entry is {"url", "title", "author_name", "author_url", "text", "published", "thumbnail"}, the last
    a file in ``folder`` checked and scaled as a downloaded thumbnail is. Embeds already fetched are
    left alone. Returns how many were stored."""
    stored = 0
    for entry in entries:
        match = providers.match(entry["url"])
        if match is None:
            raise ValueError(f"not an embed URL: {entry['url']}")
        embed = Embed.objects.filter(url=match.url).first() or Embed(url=match.url)
        if embed.is_ok:
            continue
        embed.provider, embed.kind = match.provider.key, match.provider.kind
        embed.title = metadata.plain(entry.get("title"), metadata.MAX_TITLE)
        embed.author_name = metadata.plain(entry.get("author_name"), metadata.MAX_AUTHOR)
        embed.author_url = metadata.https_url(entry.get("author_url"))
        kind_is_code = match.provider.kind == providers.CODE
        embed.text = (
            entry.get("text", "") if kind_is_code else metadata.plain(entry.get("text"), 5000, lines=True)
        )
        embed.published = datetime.date.fromisoformat(entry["published"]) if entry.get("published") else None
        if entry.get("thumbnail"):
            data, embed.width, embed.height = images.prepare_thumbnail(
                (folder / entry["thumbnail"]).read_bytes()
            )
            stem = slugify(f"{match.provider.key}-{match.id}")[:60]
            embed.thumbnail.save(f"{stem}.webp", ContentFile(data), save=False)
        embed.status, embed.error, embed.fetched_at = Embed.Status.OK, "", timezone.now()
        embed._store()
        stored += 1
    return stored
