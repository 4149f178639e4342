from django.core.management.base import BaseCommand, CommandError

from articles import cachekeys
from articles.models import Article
from articles.rendering import RENDERER_VERSION, RenderError


class Command(BaseCommand):
    help = "Render every article's Markdown body again, e.g. after the rendering pipeline changed."

    def add_arguments(self, parser):
        parser.add_argument(
            "--outdated", action="store_true", help="Only articles rendered by an older pipeline version."
        )

    def handle(self, *args, outdated=False, **options):
        articles = Article.objects.order_by("pk")
        if outdated:
            articles = articles.exclude(renderer_version=RENDERER_VERSION)
        total = articles.count()
        failed = 0
        for done, article in enumerate(articles.iterator(chunk_size=200), start=1):
            try:
                article.render_body(force=True)
            except RenderError as exc:
                failed += 1
                self.stderr.write(f"  {article.slug}: {exc}")
                continue
            # Only the derived columns: an editor saving at the same moment keeps their edit.
            Article.objects.filter(pk=article.pk).update(
                body_html=article.body_html,
                renderer_version=article.renderer_version,
                reading_time=article.reading_time,
                excerpt=article.excerpt,
            )
            if done % 50 == 0 or done == total:
                self.stdout.write(f"  {done}/{total} rendered")
        # update() sends no model signals: every kept page is out of date.
        cachekeys.purge_on_commit("everything")
        self.stdout.write(self.style.SUCCESS(f"Rendered {total - failed} of {total} article(s)."))
        if failed:
            raise CommandError(f"{failed} article(s) could not be rendered; see above.")
