from django.db import DatabaseError, connection
from django.db.models import Count
from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from django.utils.cache import add_never_cache_headers
from django.views.generic import DetailView, ListView

from articles.models import Article, Author, Section, Tag

RELATED_LIMIT = 4


def can_preview(user):
    return user.is_authenticated and user.is_staff and user.has_perm("articles.change_article")


class ArticleDetailView(DetailView):
    template_name = "articles/article_detail.html"
    context_object_name = "article"

    def get_queryset(self):
        articles = Article.objects.all() if can_preview(self.request.user) else Article.objects.published()
        return articles.select_related("section").prefetch_related("authors", "tags")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        article = self.object
        context["related_articles"] = related_articles(article)
        context["is_preview"] = not article.is_live
        context["current_section"] = article.section
        return context

    def render_to_response(self, context, **response_kwargs):
        response = super().render_to_response(context, **response_kwargs)
        if context["is_preview"]:
            # A draft must never be kept by a browser or a shared cache.
            add_never_cache_headers(response)
        return response


def related_articles(article):
    """Published articles ranked by how many tags they share with this one, then by recency."""
    tag_ids = [tag.pk for tag in article.tags.all()]
    if not tag_ids:
        return []
    return list(
        Article.objects.published()
        .for_teasers()
        .filter(tagged_items__tag_id__in=tag_ids)
        .exclude(pk=article.pk)
        .annotate(shared_tags=Count("tagged_items"))
        .order_by("-shared_tags", "-published_at", "-id")[:RELATED_LIMIT]
    )


class ArticleListView(ListView):
    """A paginated list of published teasers; subclasses narrow it to one section, author or tag."""

    template_name = "articles/article_list.html"
    context_object_name = "articles"
    paginate_by = 20

    def get_queryset(self):
        return Article.objects.published().for_teasers()


class HomeView(ArticleListView):
    template_name = "articles/home.html"


class SubjectListView(ArticleListView):
    """The articles of one section, author or tag, named by the slug in the URL."""

    subject_model = None
    article_lookup = ""
    kind = ""
    description_field = "description"

    def get_queryset(self):
        self.subject = get_object_or_404(self.subject_model, slug=self.kwargs["slug"])
        return super().get_queryset().filter(**{self.article_lookup: self.subject})

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            heading=self.subject.name,
            description=getattr(self.subject, self.description_field),
            kind=self.kind,
            **kwargs,
        )


class SectionView(SubjectListView):
    subject_model, article_lookup, kind = Section, "section", "Section"

    def get_context_data(self, **kwargs):
        return super().get_context_data(current_section=self.subject, **kwargs)


class AuthorView(SubjectListView):
    subject_model, article_lookup, kind = Author, "authors", "Author"
    description_field = "bio"


class TagView(SubjectListView):
    subject_model, article_lookup, kind = Tag, "tagged_items__tag", "Tag"


def healthz(request):
    """Liveness plus a database round trip, for load balancers."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return JsonResponse({"status": "error", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})
