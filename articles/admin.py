import csv

from django.contrib import admin, messages
from django.db.models import Count, Q
from django.http import HttpResponse
from django.utils import timezone
from django.utils.html import format_html
from taggit.models import Tag as TaggitTag

from articles.forms import ArticleAdminForm, AuthorAdminForm
from articles.models import Article, Author, Follow, Section, Subscriber, Tag, TaggedArticle

# We use our own Tag model; taggit's stock one would only confuse editors.
if admin.site.is_registered(TaggitTag):
    admin.site.unregister(TaggitTag)


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    form = ArticleAdminForm
    list_display = [
        "thumbnail",
        "title",
        "status_label",
        "is_featured",
        "section",
        "published_at",
        "tag_list",
    ]
    list_display_links = ["thumbnail", "title"]
    list_filter = ["status", "is_featured", "section", "tags", "published_at"]
    list_select_related = ["section"]
    search_fields = ["title", "standfirst", "body"]
    date_hierarchy = "published_at"
    prepopulated_fields = {"slug": ["title"]}
    autocomplete_fields = ["authors", "section"]
    readonly_fields = ["hero_preview", "created_at", "updated_at", "revised_at"]
    actions = ["publish", "unpublish"]
    save_on_top = True
    fieldsets = [
        (None, {"fields": ["title", "slug", "standfirst", "body"]}),
        ("Hero image", {"fields": ["hero_preview", "hero_image", "hero_alt", "hero_caption", "hero_credit"]}),
        ("Filing", {"fields": ["section", "authors", "tags"]}),
        (
            "Publishing",
            {"fields": ["status", "published_at", "is_featured", "created_at", "updated_at", "revised_at"]},
        ),
        ("Search and social", {"classes": ["collapse"], "fields": ["seo_title", "seo_description"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("tags")

    @admin.display(description="Image")
    def thumbnail(self, article):
        if not article.hero_thumbnail_url:
            return "—"
        return format_html(
            '<img src="{}" alt="" width="80" height="45" style="object-fit: cover" loading="lazy">',
            article.hero_thumbnail_url,
        )

    @admin.display(description="Current hero image")
    def hero_preview(self, article):
        if not article.hero_thumbnail_url:
            return "No image yet."
        return format_html(
            '<img src="{}" alt="{}" width="320" style="height: auto">',
            article.hero_thumbnail_url,
            article.hero_alt,
        )

    @admin.display(description="Status", ordering="status")
    def status_label(self, article):
        if article.status == Article.Status.PUBLISHED and not article.is_live:
            return f"Scheduled for {timezone.localtime(article.published_at):%d %b %Y %H:%M}"
        return article.get_status_display()

    @admin.display(description="Tags")
    def tag_list(self, article):
        return ", ".join(tag.name for tag in article.tags.all())

    @admin.action(description="Publish selected articles", permissions=["change"])
    def publish(self, request, queryset):
        self._set_status(request, queryset, Article.Status.PUBLISHED, "published")

    @admin.action(description="Unpublish selected articles (back to draft)", permissions=["change"])
    def unpublish(self, request, queryset):
        self._set_status(request, queryset, Article.Status.DRAFT, "moved back to draft")

    def _set_status(self, request, queryset, status, verb):
        changed = 0
        for article in queryset.exclude(status=status):
            article.status = status
            # save(), not update(): it stamps published_at and keeps derived fields right.
            article.save()
            changed += 1
        self.message_user(request, f"{changed} article(s) {verb}.", messages.SUCCESS)


@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin):
    form = AuthorAdminForm
    list_display = ["name", "slug", "user", "article_count"]
    search_fields = ["name", "bio"]
    prepopulated_fields = {"slug": ["name"]}
    raw_id_fields = ["user"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(article_count=Count("articles"))

    @admin.display(description="Articles", ordering="article_count")
    def article_count(self, author):
        return author.article_count


@admin.register(Section)
class SectionAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "position"]
    list_editable = ["position"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}


class TaggedArticleInline(admin.TabularInline):
    model = TaggedArticle
    raw_id_fields = ["content_object"]
    extra = 0


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "article_count", "follower_count"]
    search_fields = ["name"]
    prepopulated_fields = {"slug": ["name"]}
    fields = ["name", "slug", "description"]
    inlines = [TaggedArticleInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                article_count=Count("tagged_articles", distinct=True),
                follower_count=Count(
                    "follows", distinct=True, filter=Q(follows__subscriber__confirmed_at__isnull=False)
                ),
            )
        )

    @admin.display(description="Articles", ordering="article_count")
    def article_count(self, tag):
        return tag.article_count

    @admin.display(description="Confirmed followers", ordering="follower_count")
    def follower_count(self, tag):
        return tag.follower_count


class FollowInline(admin.TabularInline):
    model = Follow
    autocomplete_fields = ["tag"]
    extra = 0


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ["email", "is_confirmed", "frequency", "followed_tags", "created_at"]
    list_filter = [("confirmed_at", admin.EmptyFieldListFilter), "frequency", "follows__tag"]
    search_fields = ["email", "follows__tag__name"]
    readonly_fields = ["created_at", "confirmed_at", "confirmation_sent_at", "last_digest_at"]
    inlines = [FollowInline]
    actions = ["export_confirmed_csv"]
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("follows__tag")

    @admin.display(description="Confirmed", boolean=True, ordering="confirmed_at")
    def is_confirmed(self, subscriber):
        return subscriber.is_confirmed

    @admin.display(description="Follows")
    def followed_tags(self, subscriber):
        return ", ".join(sorted(follow.tag.name for follow in subscriber.follows.all()))

    @admin.action(description="Export the confirmed among the selected as CSV", permissions=["view"])
    def export_confirmed_csv(self, request, queryset):
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="confirmed-subscribers.csv"'
        writer = csv.writer(response)
        writer.writerow(["email", "frequency", "confirmed_at", "tags"])
        confirmed = (
            queryset.filter(confirmed_at__isnull=False).prefetch_related("follows__tag").order_by("email")
        )
        for subscriber in confirmed.iterator(chunk_size=500):
            tags = "; ".join(sorted(follow.tag.name for follow in subscriber.follows.all()))
            # A leading =, +, - or @ would run as a formula in a spreadsheet (CSV injection).
            row = [subscriber.email, subscriber.frequency, subscriber.confirmed_at.isoformat(), tags]
            writer.writerow(["'" + cell if cell[:1] in "=+-@" else cell for cell in row])
        return response
