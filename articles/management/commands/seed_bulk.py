"""Generate a large fictional newsroom fast, for load tests and listing benchmarks.

    manage.py seed_bulk --articles 100000 [--sections 8] [--tags 300] [--authors 40] [--seed 1]

Nothing here calls Article.save(): that renders Markdown in a forked child per article. The articles
come from articles/management/fictional_newsroom.py, whose body templates are rendered once: what is
stored is still what save() would store. One hero image is drawn and its renditions written once, then
shared by a part of the articles. Everything else is inserted in batches, one transaction per batch:
bulk_create, or COPY on PostgreSQL (several times faster).

A second run adds more articles: it reuses the sections, tags and authors that already exist (by
slug or name) and numbers its slugs after the largest article id.
"""

import contextlib
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Max

from articles import cachekeys, images
from articles.management import fictional_newsroom as newsroom
from articles.management.hero_drawing import draw_hero
from articles.models import Article, Author, Image, Section, Tag, TaggedArticle

HERO_FILENAME = "seed-bulk-hero.jpg"


class Command(BaseCommand):
    help = "Generate many realistic fictional articles fast (bulk inserts, no per-article rendering)."

    def add_arguments(self, parser):
        parser.add_argument("--articles", type=int, required=True, help="How many articles to create.")
        parser.add_argument("--sections", type=int, default=8)
        parser.add_argument("--tags", type=int, default=300)
        parser.add_argument("--authors", type=int, default=40)
        parser.add_argument("--seed", type=int, default=1, help="Random seed: the same seed, the same data.")
        parser.add_argument("--batch", type=int, default=2000, help="Articles per insert transaction.")
        parser.add_argument(
            "--no-copy",
            action="store_true",
            help="On PostgreSQL, insert with bulk_create like other databases instead of COPY.",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=2,
            help="Parallel COPY streams on PostgreSQL (one per core is about right).",
        )

    def handle(self, *args, **options):
        total, batch = options["articles"], options["batch"]
        if total < 1 or batch < 1:
            raise CommandError("--articles and --batch must be at least 1.")
        if min(options["sections"], options["tags"], options["authors"], options["workers"]) < 1:
            raise CommandError("--sections, --tags, --authors and --workers must be at least 1.")
        started = time.perf_counter()

        sections = _ensure(Section, newsroom.section_rows(options["sections"]))
        tags = _ensure(Tag, newsroom.tag_rows(options["tags"]))
        authors = _ensure(Author, newsroom.author_rows(options["authors"]), unique_name=False)
        first_number = (Article.objects.aggregate(top=Max("id"))["top"] or 0) + 1
        generator = newsroom.ArticleGenerator(
            options["seed"], total, first_number, sections, tags, authors, hero=_make_hero()
        )
        self.stdout.write(
            f"Prepared {len(sections)} sections, {len(tags)} tags, {len(authors)} authors, "
            f"{len(generator.templates)} body templates and 1 hero image in "
            f"{time.perf_counter() - started:.1f} s"
        )

        use_copy = connection.vendor == "postgresql" and not options["no_copy"]
        writer = CopyWriter() if use_copy else OrmWriter()
        # Parallel COPY streams keep both PostgreSQL and Python busy. Not inside a transaction (a test
        # case): other connections would not see its uncommitted sections, tags and authors.
        workers = options["workers"] if use_copy and not connection.in_atomic_block else 1

        def insert(first):
            size = min(batch, total - first)
            stats = Counter()
            # A generator: the COPY writer sends each row while PostgreSQL stores the previous ones.
            rows = generator.batch(first, size, stats)
            try:
                with transaction.atomic():
                    if connection.vendor == "postgresql":
                        # A throwaway seed: a crash may lose the last batches, and that is fine.
                        with connection.cursor() as cursor:
                            cursor.execute("SET LOCAL synchronous_commit TO OFF")
                    stats["tags"], stats["bylines"] = writer.write(size, rows)
            finally:
                if workers > 1:
                    connection.close()  # this worker thread's own connection
            return first + size, stats

        totals = Counter()
        with contextlib.ExitStack() as stack:
            if workers > 1:
                pool = stack.enter_context(ThreadPoolExecutor(workers))
                stack.callback(pool.shutdown, cancel_futures=True)  # after a failure, start no more batches
                results = pool.map(insert, range(0, total, batch))
            else:
                results = map(insert, range(0, total, batch))
            for done, stats in results:  # in order, as each batch is committed
                totals.update(stats)
                self.stdout.write(f"  {done}/{total} articles")

        elapsed = time.perf_counter() - started
        # Bulk inserts send no model signals: every kept page is out of date.
        cachekeys.purge_on_commit("everything")
        method = f"COPY, {workers} stream{'s' if workers > 1 else ''}" if use_copy else "bulk_create"
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {total} articles ({totals['published']} published, {totals['future']} scheduled, "
                f"{totals['draft']} drafts, {totals['featured']} featured, {totals['hero']} with a hero "
                f"image), {totals['tags']} tag links and {totals['bylines']} bylines over "
                f"{generator.days:g} days in {elapsed:.1f} s ({connection.vendor}, {method})."
            )
        )


def _make_hero():
    """Draw, prepare and render one library image, the hero shared by many articles: its id."""
    existing = Image.objects.filter(original_filename=HERO_FILENAME).first()
    if existing is not None:  # a second run adds stories, not another copy of the picture
        return existing.pk
    jpeg = draw_hero("seed-bulk")
    prepared = images.prepare_upload(File(jpeg, name=HERO_FILENAME))
    hero = Image.objects.create(
        file=prepared.content,
        alt="An illustration of server racks with light trails",
        credit="Conclave illustration",
        original_filename=HERO_FILENAME,
    )
    return hero.pk


def _ensure(model, wanted, unique_name=True):
    """The stored rows of these unsaved ones, in order: a row of the same slug (or name, where names are
    unique) is reused, the others are created."""
    existing = {obj.slug: obj for obj in model.objects.filter(slug__in=[obj.slug for obj in wanted])}
    by_name = {}
    if unique_name:
        by_name = {obj.name: obj for obj in model.objects.filter(name__in=[obj.name for obj in wanted])}
    missing = [obj for obj in wanted if obj.slug not in existing and obj.name not in by_name]
    model.objects.bulk_create(missing)
    created = {obj.slug: obj for obj in model.objects.filter(slug__in=[obj.slug for obj in missing])}
    return [existing.get(obj.slug) or by_name.get(obj.name) or created[obj.slug] for obj in wanted]


class OrmWriter:
    """Any database: bulk_create of the articles, then of their tag links and bylines."""

    def write(self, size, rows):
        rows = list(rows)
        articles = Article.objects.bulk_create([Article(**fields) for fields, _, _ in rows])
        if any(article.pk is None for article in articles):  # a backend that cannot return ids
            ids = dict(Article.objects.filter(slug__in=[a.slug for a in articles]).values_list("slug", "pk"))
            for article in articles:
                article.pk = ids[article.slug]
        tagged = [
            TaggedArticle(content_object_id=article.pk, tag_id=tag_id)
            for article, (_, tag_ids, _) in zip(articles, rows, strict=True)
            for tag_id in tag_ids
        ]
        through = Article.authors.through
        bylines = [
            through(article_id=article.pk, author_id=author_id)
            for article, (_, _, author_ids) in zip(articles, rows, strict=True)
            for author_id in author_ids
        ]
        TaggedArticle.objects.bulk_create(tagged)
        through.objects.bulk_create(bylines)
        return len(tagged), len(bylines)


class CopyWriter:
    """PostgreSQL: COPY FROM STDIN, several times faster than INSERT for the same rows.

    The rows stream to the server while the next ones are generated, so Python and PostgreSQL each
    keep a core busy. Article ids come from the table's own sequence first, for the link rows.

    Every concrete column of Article is written, each value prepared by its own field as Django
    prepares any INSERT (get_db_prep_save). A column a row does not set gets what saving a new Article
    would store: its field's pre_save on a blank instance (the default; the time for auto_now fields),
    taken once for all rows. So a field added to the model needs no change here. search_vector is no
    exception: the trigger of migration 0003 fills it, as on any INSERT.

    Preparing every value would take half as long again as generating the rows, and most fields give
    a value back as it was (a str, a bool, an aware datetime) or an equal one COPY sends as the same
    text (psycopg's Int2 for an int). So the first row with a given set of value types finds out which
    values do change (JSON, here), and the rows with the same types then prepare only those.
    """

    def __init__(self):
        fields = Article._meta.concrete_fields
        blank = Article()
        self.pk = Article._meta.pk.attname
        self.defaults = [(field.attname, field.pre_save(blank, add=True)) for field in fields]
        self.preparers = [field.get_db_prep_save for field in fields]
        self.changed_by_types = {}  # the types of a row's values -> positions of the values to prepare
        self.article_copy = self._copy(Article, *(field.name for field in fields))
        self.tagged_copy = self._copy(TaggedArticle, "content_object", "tag")
        self.byline_copy = self._copy(Article.authors.through, "article", "author")

    @staticmethod
    def _copy(model, *names):
        quote = connection.ops.quote_name
        columns = ", ".join(quote(model._meta.get_field(name).column) for name in names)
        return f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"

    def row(self, fields):
        """The values of one article, prepared, in the column order of the COPY statement."""
        row = [fields.get(attname, default) for attname, default in self.defaults]
        types = tuple(map(type, row))
        changed = self.changed_by_types.get(types)
        if changed is None:
            changed = [
                i
                for i, value in enumerate(row)
                if not _same_text(self.preparers[i](value, connection), value)
            ]
            self.changed_by_types[types] = changed
        for i in changed:
            row[i] = self.preparers[i](row[i], connection)
        return row

    def write(self, size, rows):
        tags, bylines = [], []
        with connection.cursor() as wrapper:
            cursor = wrapper.cursor  # psycopg's own cursor, for copy()
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [Article._meta.db_table, Article._meta.pk.column, size],
            )
            ids = [row[0] for row in cursor.fetchall()]
            with cursor.copy(self.article_copy) as copy:
                for article_id, (fields, tag_ids, author_ids) in zip(ids, rows, strict=True):
                    fields[self.pk] = article_id
                    copy.write_row(self.row(fields))
                    tags.extend((article_id, tag_id) for tag_id in tag_ids)
                    bylines.extend((article_id, author_id) for author_id in author_ids)
            for statement, links in ((self.tagged_copy, tags), (self.byline_copy, bylines)):
                with cursor.copy(statement) as copy:
                    for link in links:
                        copy.write_row(link)
        return len(tags), len(bylines)


def _same_text(prepared, value):
    """Whether a field's prepared value goes by COPY as the value itself would: the same, or equal and
    of a subclass of its type."""
    return prepared is value or (isinstance(prepared, type(value)) and prepared == value)
