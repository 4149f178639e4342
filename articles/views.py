import datetime
from functools import partial
from typing import NamedTuple

from django.conf import settings
from django.core import signing
from django.core.paginator import Paginator
from django.db import DatabaseError, connection
from django.db.models import Count, Q, prefetch_related_objects
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.generic import DetailView, ListView, MonthArchiveView
from django_permissions_policy import PermissionsPolicyMiddleware

from articles import cachekeys, live, preview, readership
from articles.embeds import facades, providers
from articles.models import Article, Author, Section, Tag, TaggedArticle
from articles.tag_governance import moved_permanently, resolve_tag_slug
from conclave import pagecache

RELATED_LIMIT = 4
# A story's rendered parts are purged by its keys: this only bounds how long an unread one is stored.
STORY_KEEP_SECONDS = 24 * 60 * 60
RELATED_CANDIDATES_PER_TAG = 50
SECTION_BLOCK_SIZE = 4
# Section blocks on the home page are drawn from this many newest stories, so the query stays
# bounded however large the archive grows; a section silent for that long has no block.
SECTION_BLOCK_WINDOW = 500
POPULAR_TAGS = 12
POPULAR_TAG_DAYS = 30
POPULAR_TAGS_CACHE_SECONDS = 600
# Listings stop after this many pages: OFFSET and COUNT(*) grow with depth, and older stories are
# one click away in the monthly archive and in search.
MAX_PAGES = 50


class KnownCount(NamedTuple):
    """How many rows a listing holds, when whoever built it already knows (search fetched the ids anyway)."""

    rows: int
    more: bool  # and more would match, left out on purpose


class BoundedPaginator(Paginator):
    """Counts at most MAX_PAGES pages' worth of rows; ``is_capped`` tells the template there are more.

    Given a ``known_count``, it counts nothing.
    """

    is_capped = False

    def __init__(self, *args, known_count=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.known_count = known_count

    @property
    def count(self):
        if not hasattr(self, "_bounded_count"):
            limit = MAX_PAGES * self.per_page
            if self.known_count is not None:
                found, more = self.known_count
            else:
                # Only ids, unordered: annotations such as search highlights stay out of the count.
                found, more = self.object_list.order_by().values("pk")[: limit + 1].count(), False
            self.is_capped = more or found > limit
            self._bounded_count = min(found, limit)
        return self._bounded_count


def can_preview(user):
    return user.is_authenticated and user.is_staff and user.has_perm("articles.change_article")


class ArticleDetailView(DetailView):
    template_name = "articles/article_detail.html"
    context_object_name = "article"

    def get(self, request, *args, **kwargs):
        try:
            return super().get(request, *args, **kwargs)
        except signing.SignatureExpired:
            response = render(request, "articles/preview_expired.html", status=410)
            add_never_cache_headers(response)
            return response

    def get_queryset(self):
        # Any article by its slug: get_object decides whether this visitor may see it. The Markdown source
        # is never shown (body_html is), so it stays in the database.
        return Article.objects.select_related("section").defer("body", "search_vector")

    def get_object(self, queryset=None):
        article = super().get_object(queryset)
        if not (article.is_live or self.may_preview(article)):
            raise Http404("No article answers at this address.")
        return article

    def may_preview(self, article):
        """Whether this visitor may see a draft or scheduled story: staff who may open it in the admin
        (Article.objects.open_to: a writer, no other writer's draft), or anyone holding a genuine preview
        link for it."""
        user = self.request.user
        if can_preview(user) and Article.objects.open_to(user).filter(pk=article.pk).exists():
            return True
        token = self.request.GET.get("preview")
        # An expired link raises SignatureExpired, answered in get() with a page that says so.
        return bool(token) and preview.article_id_for(token, article.slug) == article.pk

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        article = self.object
        context["is_preview"] = not article.is_live
        if context["is_preview"]:
            context["story"] = story_parts(article)
        else:
            # Exact: every change to what it shows purges one of the keys it names (show_story).
            context["story"] = pagecache.remember(
                f"story:{article.pk}", partial(story_parts, article), STORY_KEEP_SECONDS, exact=True
            )
        # The same for every reader, and kept: it may lag a publish by RELATED_LAG_SECONDS.
        context["related_box"] = pagecache.remember(
            f"related-box:{article.pk}", partial(related_box, article), cachekeys.RELATED_LAG_SECONDS
        )
        if not context["is_preview"]:
            context["beacon_ticket"] = readership.ticket(article.pk)
            context["most_read_box"] = readership.most_read_box()
        context["current_section"] = article.section
        context["embed_frame_origins"] = context["story"]["frame_origins"]
        return context

    def render_to_response(self, context, **response_kwargs):
        response = super().render_to_response(context, **response_kwargs)
        if origins := context["embed_frame_origins"]:
            # Frames are blocked everywhere (default-src 'none'); a page with players allows theirs only.
            response._csp_replace = {"frame-src": origins}
            response._permissions_policy_override = embed_permissions_policy(origins)
        if context["is_preview"]:
            # A draft must never be kept by a browser or a shared cache.
            add_never_cache_headers(response)
        elif self.object.is_live_coverage:
            # A reader coming back asks again (mostly a 304): updates arrive by the minute.
            response.browser_cache_seconds = 0
        return response


def live_updates(request, slug):
    """The newest updates of a live story, as an HTML fragment for the script that polls for them
    (static/js/live.js). A cached page, purged with the story: a poll between two updates is a hit,
    mostly a 304."""
    article = get_object_or_404(
        Article.objects.published().exclude(coverage=Article.Coverage.NONE).only("slug", "coverage"),
        slug=slug,
    )
    pagecache.shows(cachekeys.story(article.pk))
    entries = list(article.live_entries.select_related("author")[: live.FRAGMENT_ENTRIES])
    response = render(
        request,
        "articles/live_updates.html",
        {"article": article, "entries": entries, "total": article.live_entries.count()},
    )
    if article.is_live_coverage:
        response.browser_cache_seconds = 0
    return response


def embed_permissions_policy(origins):
    """The site's Permissions-Policy with the features its players ask for (their iframe's ``allow``)
    delegated to their origins: a feature must be enabled for the page itself ("self") before it can
    be passed to a frame at all. Only on pages with players; everywhere else they stay denied."""
    policy = {feature: list(allowed) for feature, allowed in settings.PERMISSIONS_POLICY.items()}
    for provider in providers.PROVIDERS:
        if provider.frame_origin not in origins:
            continue
        for feature in filter(None, (item.strip() for item in provider.allow.split(";"))):
            allowed = policy.setdefault(feature, ["self"])
            for source in ("self", provider.frame_origin):
                if source not in allowed:
                    allowed.append(source)
    return PermissionsPolicyMiddleware.compute_header_value(policy, name="embed pages")


def story_parts(article):
    """What the story page shows of the story itself, rendered: its Open Graph tags, the rest of its
    <head> (preload, JSON-LD, the players' script), the story, and the origins of its players."""
    prefetch_related_objects([article], "authors", "tags")
    cachekeys.show_story(article, article.tags.all(), article.authors.all())
    # Only a story with live coverage has updates: the others skip the query.
    entries = live.timeline(article) if article.coverage else []
    context = {
        "article": article,
        "site_name": settings.SITE_NAME,
        # A correction always stamps revised_at, so a never-revised story skips the query.
        "corrections": list(article.corrections.all()) if article.revised_at else [],
        "live_entries": entries,
        "key_points": [entry for entry in entries if entry.is_key_point],
        "live_poll_seconds": live.poll_seconds(),
        "embed_frame_origins": embed_frame_origins(article, entries),
    }
    return {
        "og": render_to_string("articles/story_og.html", context),
        "head": render_to_string("articles/story_head.html", context),
        "body": render_to_string("articles/story_body.html", context),
        "frame_origins": context["embed_frame_origins"],
    }


def embed_frame_origins(article, entries):
    """The players the story page may frame. Read from the stored HTML, which names its players: no
    query, and nothing a body can forge (only our own facades are <figure> elements). While coverage is
    live, every player: an update shown without a reload may bring one the page had not, and the page's
    policy cannot change until it is loaded again."""
    if article.is_live_coverage:
        return sorted(providers.FRAME_ORIGINS)
    return facades.frame_origins("".join([article.body_html, *(entry.body_html for entry in entries)]))


def related_box(article):
    """The story page's "Related stories" box, rendered (empty when no story shares a tag)."""
    related = related_articles(article)
    return render_to_string("includes/related_stories.html", {"articles": related}) if related else ""


def related_articles(article):
    """Published articles ranked by how many tags they share with this one, then by recency.

    Only the newest RELATED_CANDIDATES_PER_TAG stories of each of its tags are ranked: on a large
    archive a popular tag is on tens of thousands of stories, and counting shared tags across all of
    them cost hundreds of milliseconds. Per tag, so that a rare tag's stories are not crowded out by a
    popular one's; readers want recent related stories anyway.
    """
    tag_ids = [tag.pk for tag in article.tags.all()]
    if not tag_ids:
        return []
    now = timezone.now()
    newest_per_tag = [
        TaggedArticle.objects.filter(Article.objects.public_at(now, via="content_object__"), tag_id=tag_id)
        .exclude(content_object_id=article.pk)
        .order_by("-content_object__published_at", "-content_object_id")
        .values("content_object_id")[:RELATED_CANDIDATES_PER_TAG]
        for tag_id in tag_ids
    ]
    # Each LIMIT sits inside an IN of its own: SQLite allows none directly in a UNION's members.
    members = [Article.objects.filter(pk__in=newest).order_by().values("pk") for newest in newest_per_tag]
    related = list(
        Article.objects.for_teasers()
        .filter(pk__in=members[0].union(*members[1:], all=True))
        .annotate(shared_tags=Count("tagged_items", filter=Q(tagged_items__tag_id__in=tag_ids)))
        .order_by("-shared_tags", "-published_at", "-id")[:RELATED_LIMIT]
    )
    cachekeys.show_cards(related)
    return related


class ArticleListView(ListView):
    """A paginated list of published teasers; subclasses narrow it to one section, author or tag."""

    template_name = "articles/article_list.html"
    context_object_name = "articles"
    paginate_by = 20
    paginator_class = BoundedPaginator
    feed_urls = None  # (rss, atom) of this listing; the site-wide feeds when None

    def get_queryset(self):
        return Article.objects.published().for_teasers()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["feed_urls"] = self.feed_urls or (reverse("articles:feed"), reverse("articles:feed-atom"))
        self.show_listing()
        cachekeys.show_cards(context["object_list"])
        return context

    def show_listing(self):
        cachekeys.show_listing(cachekeys.EVERY_STORY)


class HomeView(ArticleListView):
    """Page 1: the lead story, the latest, a block per section and the busiest tags; then the latest."""

    template_name = "articles/home.html"
    front_page = None  # page 1's stories, when this request is for page 1 (FrontPage)

    def get_queryset(self):
        if self.is_first_page():
            self.front_page = FrontPage.read(self.paginate_by)
            return self.front_page.latest
        # Later pages list what follows page 1: everything but the lead.
        published = super().get_queryset()
        lead_pk = newest_featured_pk() or published.values_list("pk", flat=True).first()
        return published.exclude(pk=lead_pk) if lead_pk else published

    def is_first_page(self):
        return self.request.GET.get(self.page_kwarg, "1") == "1"

    def get_paginator(self, *args, **kwargs):
        known_count = self.front_page.count if self.front_page else None
        return super().get_paginator(*args, known_count=known_count, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if self.front_page:
            lead = self.front_page.lead
            context.update(
                lead=lead,
                section_blocks=self.front_page.section_blocks,
                trending_topics=trending_topics(),
                most_read_box=readership.most_read_box(),
            )
            cachekeys.show_cards([lead] if lead else [])
            for _section, articles in self.front_page.section_blocks:
                cachekeys.show_cards(articles)
        return context

    def show_listing(self):
        cachekeys.show_listing(cachekeys.HOME)


class FrontPage(NamedTuple):
    """What page 1 of the home page lists: the lead, the latest (after the lead), the section blocks
    [(section, [articles…]), …] in navigation order, and how many stories the latest list holds.

    Read in three queries (two when a featured story is among the newest): the newest stories' ids and
    sections, enough to count the pages up to MAX_PAGES; the newest featured story, only when none of
    those is; the teasers of every story shown. Counting, the lead, the list and the section blocks each
    in their own queries made the ORM's work of building the SQL most of what the page cost.
    """

    lead: Article | None
    latest: list
    section_blocks: list
    count: KnownCount

    @classmethod
    def read(cls, per_page):
        # One row more than the listing can show, and one for the lead: enough to know it is capped.
        window_size = max(SECTION_BLOCK_WINDOW, MAX_PAGES * per_page + 2)
        newest = list(
            Article.objects.published()
            .order_by("-published_at", "-id")
            .values_list("pk", "section_id", "is_featured")[:window_size]
        )
        # The lead: the newest featured story, else the newest.
        lead_pk = next((pk for pk, _section, featured in newest if featured), None) or newest_featured_pk()
        if lead_pk is None and newest:
            lead_pk = newest[0][0]
        listed = [row for row in newest if row[0] != lead_pk]
        latest_pks = [pk for pk, _section, _featured in listed[:per_page]]
        block_pks = section_block_picks(newest[:SECTION_BLOCK_WINDOW])
        wanted = {lead_pk, *latest_pks, *block_pks} - {None}
        teasers = Article.objects.for_teasers().in_bulk(wanted) if wanted else {}
        # A story unpublished between the two queries is left out, not shown.
        return cls(
            lead=teasers.get(lead_pk),
            latest=[teasers[pk] for pk in latest_pks if pk in teasers],
            section_blocks=section_blocks_of([teasers[pk] for pk in block_pks if pk in teasers], block_pks),
            count=KnownCount(len(listed), more=len(newest) == window_size),
        )


def newest_featured_pk():
    return Article.objects.published().filter(is_featured=True).values_list("pk", flat=True).first()


def section_block_picks(newest):
    """The ids of each section's newest SECTION_BLOCK_SIZE stories among ``newest`` (pk, section id,
    …) rows, newest first within each section."""
    chosen = {}  # section id -> its newest story ids, newest first
    for pk, section_id, *_rest in newest:
        if section_id is not None and len(chosen.setdefault(section_id, [])) < SECTION_BLOCK_SIZE:
            chosen[section_id].append(pk)
    return [pk for ids in chosen.values() for pk in ids]


def section_blocks_of(articles, picks):
    """[(section, [articles…]), …] in navigation order, each section's stories in the order of ``picks``."""
    rank = {pk: n for n, pk in enumerate(picks)}
    articles = sorted(
        articles,
        key=lambda article: (
            article.section.position,
            article.section.name,
            article.section_id,
            rank[article.pk],
        ),
    )
    blocks = []
    for article in articles:
        if not blocks or blocks[-1][0] != article.section:
            blocks.append((article.section, []))
        blocks[-1][1].append(article)
    return blocks


def trending_topics():
    """The home page's box of the busiest tags, rendered (empty when no story has a tag).

    Counting tag use over thousands of stories is the home page's costliest query: kept until the
    home page's list changes (a publish, a tag added to a live story), and at most ten minutes.
    """
    return pagecache.remember("home-trending-topics", _render_trending_topics, POPULAR_TAGS_CACHE_SECONDS)


def _render_trending_topics():
    tags = popular_tags()
    return render_to_string("includes/trending_topics.html", {"tags": tags}) if tags else ""


def popular_tags():
    """The most used tags of the last 30 days (of all time on a quiet site), with their counts."""
    since = timezone.now() - datetime.timedelta(days=POPULAR_TAG_DAYS)
    for articles in (
        Article.objects.published().filter(published_at__gte=since),
        Article.objects.published(),
    ):
        tags = list(
            Tag.objects.filter(tagged_articles__content_object__in=articles)
            .annotate(article_count=Count("tagged_articles"))
            .order_by("-article_count", "name")[:POPULAR_TAGS]
        )
        if tags:
            break
    cachekeys.show_listing(cachekeys.HOME)
    pagecache.shows(*(cachekeys.tag(tag.pk) for tag in tags))
    return tags


class SubjectListView(ArticleListView):
    """The articles of one section, author or tag, named by the slug in the URL."""

    subject_model = None
    kind = ""
    feed_name = ""

    def get_subject(self):
        return get_object_or_404(self.subject_model, slug=self.kwargs["slug"])

    def get_queryset(self):
        self.subject = self.get_subject()
        slug = {"slug": self.subject.slug}
        self.feed_urls = (
            reverse(f"articles:{self.feed_name}", kwargs=slug),
            reverse(f"articles:{self.feed_name}-atom", kwargs=slug),
        )
        return super().get_queryset().about(self.subject)

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            subject=self.subject, heading=self.subject.name, kind=self.kind, **kwargs
        )

    def show_listing(self):
        cachekeys.show_subject(self.subject)


class SectionView(SubjectListView):
    subject_model, kind, feed_name = Section, "Section", "section-feed"
    template_name = "articles/section.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(current_section=self.subject, **kwargs)


class AuthorView(SubjectListView):
    subject_model, kind, feed_name = Author, "Author", "author-feed"
    template_name = "articles/author.html"


class TagView(SubjectListView):
    subject_model, kind, feed_name = Tag, "Tag", "tag-feed"
    template_name = "articles/tag.html"

    def get(self, request, *args, **kwargs):
        # The address of a renamed or merged-away tag answers with a permanent redirect to its tag.
        self.tag, redirected = resolve_tag_slug(kwargs["slug"])
        if redirected:
            return moved_permanently(request, self.tag.get_absolute_url())
        return super().get(request, *args, **kwargs)

    def get_subject(self):
        return self.tag


class TagIndexView(ListView):
    """Every tag with published stories, A to Z, with how many."""

    template_name = "articles/tag_index.html"
    context_object_name = "tags"
    paginate_by = 20

    def get_queryset(self):
        return (
            Tag.objects.filter(tagged_articles__content_object__in=Article.objects.published())
            .annotate(article_count=Count("tagged_articles"))
            .order_by("name")
        )

    def get_context_data(self, **kwargs):
        # Every tag's name and count: purged with every publish and every tag change.
        cachekeys.show_listing(cachekeys.EVERY_STORY)
        return super().get_context_data(**kwargs)


class ArchiveMonthView(MonthArchiveView):
    """/archive/<yyyy>/<mm>/: one month's stories, oldest months linked to their neighbours."""

    template_name = "articles/archive_month.html"
    context_object_name = "articles"
    date_field = "published_at"
    month_format = "%m"
    paginate_by = 20
    allow_empty = False

    def get_queryset(self):
        return Article.objects.published().for_teasers()

    def get_dated_items(self):
        # Newest first within the month, like every other listing.
        date_list, items, extra = super().get_dated_items()
        return date_list, items.order_by("-published_at", "-id"), extra

    def get_context_data(self, **kwargs):
        context = super().get_context_data(
            feed_urls=(reverse("articles:feed"), reverse("articles:feed-atom")), **kwargs
        )
        cachekeys.show_listing(cachekeys.month_list(context["month"]))
        cachekeys.show_archive_months()
        cachekeys.show_cards(context["object_list"])
        return context


def healthz(request):
    """Liveness plus a database round trip, for load balancers."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return JsonResponse({"status": "error", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})
