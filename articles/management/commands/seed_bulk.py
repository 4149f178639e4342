"""Generate a large fictional newsroom fast, for load tests and listing benchmarks.

    manage.py seed_bulk --articles 100000 [--sections 8] [--tags 300] [--authors 40] [--seed 1]

Nothing here calls Article.save(): that renders Markdown in a forked child per article. A few body
templates are rendered once, with placeholder tokens where the varying words go; each article then
gets its words substituted into the Markdown, the rendered HTML and the plain-text excerpt alike, so
body_html is exactly what render_body() would produce for that body. One hero image is drawn and its
renditions written once, then shared by a part of the articles. Everything else is inserted in
batches, one transaction per batch: bulk_create, or COPY on PostgreSQL (several times faster; the
search_vector trigger fills the search vectors either way).

A second run adds more articles: it reuses the sections, tags and authors that already exist (by
slug or name) and numbers its slugs after the largest article id.
"""

import contextlib
import datetime
import html
import json
import random
import re
import time
from bisect import bisect
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import html5lib
from django.contrib.postgres.search import SearchVectorField
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import JSONField, Max
from django.utils import timezone
from django.utils.text import slugify

from articles import images, rendering
from articles.management.hero_drawing import draw_hero
from articles.models import Article, Author, Section, Tag, TaggedArticle
from articles.rendering import truncate_on_word
from conclave import pagecache

# Drafts, scheduled and featured stories at fixed positions: 2 %, 2 % and 1 %, and even a small run
# (from 50 articles on) has one of each.
DRAFT_EVERY, DRAFT_AT = 50, 17
FUTURE_EVERY, FUTURE_AT = 50, 42
FEATURED_EVERY, FEATURED_AT = 100, 5
HERO_SHARE = 0.4
TWO_AUTHORS_SHARE = 0.2
TAGS_PER_ARTICLE = (3, 6)
ZIPF_EXPONENT = 1.1  # tag popularity: the first tags are on a large share of all articles
ARTICLES_PER_DAY = 50  # published_at spreads over the last N / 50 days
HERO_NAME = "articles/seed/seed-bulk-hero.jpg"

# --- word lists (all fictional companies and people) -------------------------------------------------

SECTION_NAMES = [
    "AI", "Chips", "Cloud", "Security", "Gadgets", "Startups", "Science", "Policy", "Energy",
    "Mobility", "Space", "Gaming", "Telecoms", "Enterprise", "Health tech", "Culture",
]  # fmt: skip
# Relative sizes of the sections, by position (the first sections carry most of the news).
SECTION_WEIGHTS = [22, 16, 13, 12, 10, 8, 6, 5, 4, 3, 3, 2, 2, 2, 1, 1]

TAG_TOPICS = [
    "Artificial intelligence", "Semiconductors", "Cloud computing", "Cybersecurity", "Open source",
    "Smartphones", "Regulation", "Startups", "Venture capital", "Data centres", "Machine learning",
    "Large language models", "Robotics", "Electric vehicles", "Batteries", "Quantum computing",
    "Privacy", "Chip manufacturing", "Supply chains", "5G", "Satellites", "Space launch",
    "Gaming", "Streaming", "Social media", "Antitrust", "Ransomware", "Data breaches", "Browsers",
    "Operating systems", "Laptops", "Wearables", "Augmented reality", "Virtual reality", "Drones",
    "Autonomous driving", "Fintech", "Payments", "Crypto", "E-commerce", "Advertising",
    "Developer tools", "Programming languages", "Databases", "Kubernetes", "Serverless", "Edge computing",
    "Networking", "Fibre broadband", "Submarine cables", "Climate tech", "Solar power", "Nuclear power",
    "Grid storage", "Hydrogen", "Biotech", "Health records", "Medical devices", "Genomics",
    "Education technology", "Remote work", "Labour", "Layoffs", "Earnings", "Mergers", "IPOs",
    "Export controls", "Trade policy", "Digital services", "Copyright", "Misinformation", "Elections",
    "Accessibility", "Right to repair", "Recycling", "E-waste", "Photonics", "Memory chips", "GPUs",
    "RISC-V", "Chip design", "Packaging", "Lithography", "Foundries", "Cooling", "Power efficiency",
    "Open models", "AI safety", "AI chips", "Inference", "Training runs", "Benchmarks", "Search",
    "Email", "Messaging", "Encryption", "Passwords", "Identity", "Cloud outages", "Observability",
    "Smart home", "Cameras", "Audio", "Televisions", "Consoles", "Esports", "App stores",
]  # fmt: skip
TAG_QUALIFIERS = ["in Europe", "in Asia", "in the US", "research", "policy", "deals"]

COMPANIES = [
    "Nimbusware", "Quarkline", "Helixa", "Vantor", "Orrery", "Bluefin", "Kestrel", "Lumenrow",
    "Parallax", "Tessellate", "Corvid", "Driftwood", "Auric", "Marrowgate", "Sablewave", "Ferrite",
    "Halcyon", "Pinion", "Cobaltridge", "Meridian", "Stratalis", "Tidewater", "Norrland", "Obsidia",
    "Brightloom", "Cinderwick", "Galeforce", "Ironbark", "Juniper Forge", "Kairo", "Larkspur",
]  # fmt: skip
PRODUCTS = [
    "Atlas", "Beacon", "Cirrus", "Delta", "Ember", "Falcon", "Glacier", "Harbor", "Ion", "Juno",
    "Keystone", "Lyra", "Monsoon", "Nova", "Onyx", "Prism", "Quill", "Raven", "Summit", "Tundra",
]  # fmt: skip
# Lowercase single tokens only: they may stand in headings, whose ids Markdown's toc builds from them.
TECHS = [
    "chiplets", "inference", "photonics", "lidar", "microleds", "exascale", "wafers", "accelerators",
    "firmware", "telemetry", "transformers", "robotaxis", "heat-pumps", "satellites", "modems",
    "encryption", "sensors", "batteries", "kernels", "compilers", "datasets", "agents", "drones",
    "smartwatches", "headsets", "routers", "switches", "containers", "hypervisors", "passkeys",
]  # fmt: skip
INDUSTRIES = [
    "logistics", "banking", "healthcare", "retail", "farming", "shipping", "insurance", "media",
    "manufacturing", "aviation", "mining", "publishing", "telecoms", "utilities", "construction",
]  # fmt: skip
CITIES = [
    "Rotterdam", "Osaka", "Austin", "Lyon", "Hsinchu", "Bangalore", "Tallinn", "Montreal", "Leeds",
    "Seoul", "Phoenix", "Dresden", "Nairobi", "Lisbon", "Melbourne", "Eindhoven", "Pittsburgh",
]  # fmt: skip
ROLES = ["chief executive", "chief technology officer", "head of research", "lead engineer", "analyst"]
VERDICTS = ["worth the wait", "a mixed bag", "fast but pricey", "a quiet triumph", "hard to love"]
FIRST_NAMES = [
    "Ada", "Bea", "Cyrus", "Dana", "Eliot", "Farah", "Gus", "Hana", "Idris", "Jonah", "Kemi", "Luca",
    "Mira", "Nico", "Oona", "Priya", "Quinn", "Rafael", "Sana", "Tomas", "Una", "Viktor", "Wren",
    "Xiu", "Yara", "Zane", "Aoife", "Bruno", "Chloe", "Dmitri", "Esme", "Femi",
]  # fmt: skip
LAST_NAMES = [
    "Okafor", "Lindqvist", "Marchetti", "Nakamura", "Haddad", "Petrov", "Osei", "Brennan", "Castillo",
    "Duval", "Eriksen", "Fontaine", "Grieve", "Hollis", "Iqbal", "Jansen", "Kowalski", "Laurent",
    "Moreau", "Novak", "Okonkwo", "Pereira", "Quayle", "Rahman", "Sato", "Thorne", "Ueda", "Varga",
]  # fmt: skip

TITLE_PATTERNS = [
    "{company} unveils {product} {tech} for {industry}",
    "{company} cuts {pct}% of staff as demand for {tech} cools",
    "Inside {company}'s plan to rebuild {industry} around {tech}",
    "Why {tech} could reshape {industry} by 2030",
    "Regulators open inquiry into {company}'s {tech} deal with {company2}",
    "{company} raises ${num}m to scale {tech} in {city}",
    "Review: the {company} {product} {num} is {verdict}",
    "{company2} buys {company} to catch up on {tech}",
    "{city} bets on {tech} with a new {company} plant",
    "{company} and {company2} team up on {tech} standard",
    "Leaked memo shows {company} delaying {product} {tech}",
    "{tech} shortage hits {industry} as {company} rations supply",
]
STANDFIRST_PATTERNS = [
    "The {product} line is {company}'s biggest bet yet on {tech}, and rivals are watching closely.",
    "Engineers in {city} say the shift to {tech} is arriving faster than {industry} expected.",
    "{person}, {company}'s {role}, says the company can turn a profit on {tech} within two years.",
    "A deal worth ${num}m would give {company2} the {tech} know-how it has struggled to build.",
    "Customers in {industry} have complained for months; {company} says a fix is coming.",
    "The move puts {company} ahead of {company2} in the race for {tech}, at least for now.",
]

# Body templates: {slot} marks a varying word. Keep company, person and number slots out of headings
# (heading ids are built from the heading text, lowercased) and numbers away from line starts.
BODY_TEMPLATES = [
    """{company} said on Tuesday that it will spend ${num}m over three years on {tech}, the clearest sign \
yet that the company sees its future beyond its core business. The plan, first reported by staff in \
{city}, would move about {pct} per cent of its engineers onto the new programme.

"We have been too slow on {tech}," {person}, the company's {role}, told employees in a memo seen by \
Conclave. "The customers in {industry} who rely on us will not wait for a second chance."

## What changes for {industry}

The first products are expected next year. According to two engineers familiar with the work, the \
initial focus is on:

- lower latency for customers running {tech2} at scale
- a new pricing model for {industry} companies
- an open interface that rivals, including {company2}, could adopt

Analysts were cautious. Supply of {tech2} remains tight, and the company has missed deadlines before.

## The competition

{company2} has spent the past year hiring engineers away from its rivals and now leads the market, \
by most estimates. Whether {company} can close the gap depends on factors it does not control: \
component prices, regulators and the patience of its investors.

> "Everyone wants {tech}; very few can ship it," one analyst said.

The company will give more detail at its developer conference in {city}. Read the \
[full statement](https://example.com/press/{tech}) on its website.
""",
    """Regulators opened an inquiry on Monday into whether {company}'s agreement with {company2} gives the \
pair too much control over {tech}, a market worth an estimated ${num}m a year.

The investigation will examine contracts signed in {city} last spring, which critics say lock \
{industry} customers into a single supplier for {tech2}.

## Why regulators care about {tech}

Over the past decade, the technology has moved from research labs into everyday products. Engineers \
estimate that {pct} per cent of new systems in {industry} now depend on it, which makes any \
bottleneck a matter of policy rather than just business.

{person}, {role} at a rival firm, said the case was overdue. "When two companies decide the roadmap \
for an entire industry, everyone else is just waiting for permission," they said.

## What happens next

The authority has six months to decide whether to open a full investigation. It can:

1. accept commitments from both companies
2. block parts of the agreement
3. impose fines of up to ten per cent of global turnover

{company} said it would cooperate fully. {company2} declined to comment.
""",
    """The {company} {product} is the company's most ambitious device in years, and it is built around \
one idea: {tech} should be invisible. After two weeks of testing in {city}, we think it mostly is.

## Design

The {product} is thinner than last year's model and noticeably lighter. The new {tech2} module sits \
behind a flush panel, and battery life improved by about {pct} per cent in our tests.

## Performance

Everyday tasks feel instant. Heavier work, such as editing video or running local models, shows \
the benefit of {tech} most clearly: exports finished in roughly half the time of the previous \
generation.

| Test | Previous model | {product} |
| --- | --- | --- |
| Video export | 9 min | 4 min |
| Battery life | 11 h | 14 h |

## Should you buy it?

At ${num}, the {product} is not cheap, and {company2} sells a capable alternative for less. But if \
you work in {industry} and care about {tech}, it is the best option available today.

**Verdict:** {verdict}.
""",
    """{company} is laying off about {pct} per cent of its workforce, {person}, its {role}, told staff on \
Thursday, as orders for {tech} slowed across {industry}.

The cuts fall hardest on the sales and support teams in {city}. Engineers working on {tech2} are \
largely spared, according to an internal list reviewed by Conclave.

## A difficult year

Revenue fell for a third consecutive quarter, to ${num}m, as customers delayed upgrades. The \
company had hired aggressively during the boom, betting that demand for {tech} would keep growing.

"We built for a world that arrived more slowly than we planned," the memo said.

## What analysts say

Most analysts expect the market to recover next year. Some warn that {company2}, which has kept \
its prices low, is winning customers that {company} may not get back.

- Shares fell six per cent in early trading.
- The company reaffirmed its full-year guidance.
- Severance terms were not disclosed.
""",
    """Scientists working with {company} say they have found a way to make {tech} far more efficient, a \
result that could matter for {industry} if it holds up outside the lab.

The team, based in {city}, reported that its prototype used {pct} per cent less energy than the \
best existing designs while matching their accuracy. The work has not yet been peer reviewed.

## How it works

Conventional designs move data back and forth constantly. The new approach keeps most of it in \
place and relies on {tech2} to do the heavy lifting, which cuts both heat and delay.

{person}, the project's {role}, cautioned against hype. "This is a first step. Scaling it up will \
take years, and the engineering problems are real," they said.

## Why it matters

Energy costs are now one of the largest expenses for operators in {industry}. Even modest savings, \
multiplied across thousands of machines, add up to ${num}m a year for the biggest users.

{company2} is pursuing a rival approach and said its own results would follow later this year.
""",
    """{city} has agreed to host a ${num}m {tech} plant run by {company}, the largest technology \
investment in the region for a decade. Construction starts this autumn.

Local officials hope the project will create about two thousand jobs and attract suppliers in \
{industry}. Critics worry about water use and the strain on the local grid.

## The bet on {tech}

{company} chose the site after a two-year search. Its executives cited skilled engineers, cheap \
renewable power and generous subsidies. The plant will also produce {tech2} for {company2}, its \
largest customer, under a long-term contract.

> "This is the kind of industry that stays for fifty years," said {person}, the project's {role}.

## Open questions

Several details remain unclear:

- how much of the subsidy depends on hiring targets
- whether the grid upgrade will be finished in time
- what happens if demand for {tech} falls

The company said about {pct} per cent of the equipment would come from local suppliers.
""",
]

TAG_DESCRIPTION = "Stories about {tag} from the Conclave newsroom."
AUTHOR_BIO = "{name} covers {tech} and {industry} for Conclave from {city}."

_SLOT_RE = re.compile(r"\{(\w+)\}")
_TOKEN_RE = re.compile(r"qq([a-z0-9]+?)qq")
_SPACE_RUN_RE = re.compile(r"\s+")


def _tokenise(template):
    """{slot} -> qqslotqq: a plain word that survives Markdown, bleach, smartypants and toc unchanged."""
    return _SLOT_RE.sub(lambda m: f"qq{m.group(1)}qq", template)


class _Filler:
    """A tokenised text split once at its tokens, so filling it is a join, not a regex substitution."""

    def __init__(self, text):
        self.parts = _TOKEN_RE.split(text)  # literal, slot, literal, slot, …, literal
        self.slots = range(1, len(self.parts), 2)

    def __call__(self, values):
        parts = self.parts[:]
        for i in self.slots:
            parts[i] = values[parts[i]]
        return "".join(parts)


def _paragraphs(body_html):
    """The text of each paragraph, as rendering.plain_excerpt reads them (no footnotes here)."""
    root = html5lib.parseFragment(body_html, namespaceHTMLElements=False)
    return ["".join(para.itertext()) for para in root.iter("p")]


def _excerpt(paragraphs, max_chars=200):
    """rendering.plain_excerpt over already extracted paragraph texts: no HTML parsing per article."""
    text = ""
    for para in paragraphs:
        text = _SPACE_RUN_RE.sub(" ", f"{text} {para}").strip()
        if len(text) >= max_chars:
            break
    return truncate_on_word(text, max_chars)


class RenderedTemplate:
    """A body template rendered once; fill(values) gives body, body_html, excerpt and reading time."""

    def __init__(self, template):
        body = _tokenise(template)
        body_html = rendering.render_body(body)
        self.body, self.body_html = _Filler(body), _Filler(body_html)
        self.paragraphs = [_Filler(para) for para in _paragraphs(body_html)]
        self.words = len(rendering._WORD_RE.findall(body))
        slots = _TOKEN_RE.findall(body)
        self.slot_counts = {slot: slots.count(slot) for slot in set(slots)}

    def excerpt(self, values, max_chars=200):
        # Fill paragraphs lazily: the excerpt rarely needs more than the first two.
        return _excerpt((para(values) for para in self.paragraphs), max_chars)

    def fill(self, values, word_counts):
        # Each token counted as one word; a value of several words ("Dana Okafor") adds the rest.
        words = self.words + sum((word_counts[values[slot]] - 1) * n for slot, n in self.slot_counts.items())
        return (
            self.body(values),
            self.body_html(values),
            self.excerpt(values),
            max(1, round(words / rendering.WORDS_PER_MINUTE)),
        )


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

        sections = self.ensure_sections(options["sections"])
        tags = self.ensure_tags(options["tags"])
        authors = self.ensure_authors(options["authors"])
        templates = [RenderedTemplate(t) for t in BODY_TEMPLATES]
        hero = self.make_hero()
        self.stdout.write(
            f"Prepared {len(sections)} sections, {len(tags)} tags, {len(authors)} authors, "
            f"{len(templates)} body templates and 1 hero image in {time.perf_counter() - started:.1f} s"
        )

        generator = ArticleGenerator(options["seed"], total, sections, tags, authors, templates, hero)
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
        # Bulk inserts send no model signals: make cached pages stale by hand.
        pagecache.bump_generation()
        method = f"COPY, {workers} stream{'s' if workers > 1 else ''}" if use_copy else "bulk_create"
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {total} articles ({totals['published']} published, {totals['future']} scheduled, "
                f"{totals['draft']} drafts, {totals['featured']} featured, {totals['hero']} with a hero "
                f"image), {totals['tags']} tag links and {totals['bylines']} bylines over "
                f"{generator.days:g} days in {elapsed:.1f} s ({connection.vendor}, {method})."
            )
        )

    # --- supporting rows: reuse what exists, create the rest -----------------------------------------

    def ensure_sections(self, count):
        wanted = []
        for i in range(count):
            name = SECTION_NAMES[i] if i < len(SECTION_NAMES) else f"Section {i + 1}"
            wanted.append((name, slugify(name), i + 1))
        return _ensure(
            Section,
            wanted,
            lambda name, slug, position: Section(
                name=name,
                slug=slug,
                description=f"The latest {name} news from Conclave TechMedia.",
                position=position * 10,
            ),
        )

    def ensure_tags(self, count):
        names = list(TAG_TOPICS)
        names += [f"{topic} {qualifier}" for qualifier in TAG_QUALIFIERS for topic in TAG_TOPICS]
        names += [f"Topic {i}" for i in range(len(names), count)]
        # Rendered once; only the tag name differs, and names are plain words.
        description_html = _Filler(rendering.render_body(_tokenise(TAG_DESCRIPTION)))
        wanted = [(name, slugify(name), i) for i, name in enumerate(names[:count])]
        return _ensure(
            Tag,
            wanted,
            lambda name, slug, _: Tag(
                name=name,
                slug=slug,
                description=TAG_DESCRIPTION.format(tag=name),
                description_html=description_html({"tag": html.escape(name)}),
            ),
        )

    def ensure_authors(self, count):
        pairs = [(first, last) for last in LAST_NAMES for first in FIRST_NAMES]
        # The same names whatever --seed is, so that a second run reuses the first run's authors.
        random.Random(0).shuffle(pairs)  # noqa: S311 -- fake names, not a secret
        wanted = []
        for i in range(count):
            first, last = pairs[i % len(pairs)]
            name = f"{first} {last}" if i < len(pairs) else f"{first} {last} {i // len(pairs) + 1}"
            wanted.append((name, slugify(name), i))
        return _ensure(
            Author,
            wanted,
            lambda name, slug, i: Author(
                name=name,
                slug=slug,
                bio=AUTHOR_BIO.format(
                    name=name,
                    tech=TECHS[i % len(TECHS)],
                    industry=INDUSTRIES[i % len(INDUSTRIES)],
                    city=CITIES[i % len(CITIES)],
                ),  # fmt: skip
            ),
            unique_name=False,
        )

    def make_hero(self):
        """Draw, prepare and render one hero image; its name and renditions are shared by many articles."""
        jpeg = draw_hero("seed-bulk")
        prepared = images.prepare_upload(File(jpeg, name="seed-bulk-hero.jpg"))
        name = default_storage.save(HERO_NAME, prepared.content)
        return name, images.write_renditions(name, default_storage)


def _ensure(model, wanted, build, unique_name=True):
    """Return the model rows for (name, slug, index) triples in order, creating the missing ones."""
    slugs = [slug for _, slug, _ in wanted]
    names = [name for name, _, _ in wanted]
    existing = {obj.slug: obj for obj in model.objects.filter(slug__in=slugs)}
    by_name = {obj.name: obj for obj in model.objects.filter(name__in=names)} if unique_name else {}
    missing = [
        build(name, slug, i) for name, slug, i in wanted if slug not in existing and name not in by_name
    ]
    model.objects.bulk_create(missing)
    created = {obj.slug: obj for obj in model.objects.filter(slug__in=[obj.slug for obj in missing])}
    return [existing.get(slug) or by_name.get(name) or created[slug] for name, slug, _ in wanted]


class ArticleGenerator:
    """Makes the field values of one article at a time, as a dict by attname, with tag and author ids."""

    def __init__(self, seed, total, sections, tags, authors, templates, hero):
        self.seed = seed
        self.total = total
        self.now = timezone.now()
        self.days = round(max(2.0, total / ARTICLES_PER_DAY), 1)
        self.span = datetime.timedelta(days=self.days)
        self.section_ids = [section.pk for section in sections]
        self.section_weights = list(
            _cumulative([SECTION_WEIGHTS[i] if i < len(SECTION_WEIGHTS) else 1 for i in range(len(sections))])
        )
        self.tag_ids = [tag.pk for tag in tags]
        self.tag_weights = list(_cumulative([1 / (rank + 1) ** ZIPF_EXPONENT for rank in range(len(tags))]))
        self.tag_range = (min(TAGS_PER_ARTICLE[0], len(tags)), min(TAGS_PER_ARTICLE[1], len(tags)))
        self.author_ids = [author.pk for author in authors]
        self.templates = templates
        self.hero_name, self.hero_renditions = hero
        self.no_renditions = {}
        self.first_number = (Article.objects.aggregate(top=Max("id"))["top"] or 0) + 1
        self.persons = [f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES]
        vocabulary = COMPANIES + PRODUCTS + TECHS + INDUSTRIES + CITIES + ROLES + VERDICTS + self.persons
        vocabulary += [str(n) for n in range(1, 1000)]
        self.word_counts = {word: len(rendering._WORD_RE.findall(word)) for word in vocabulary}

    def batch(self, first, size, stats):
        """The rows of articles first … first + size - 1, counted into ``stats``.

        Each batch has its own random generator, seeded from --seed and its position: the same data
        whichever worker thread makes it, and in whatever order.
        """
        rng = random.Random(f"{self.seed}:{first}")  # noqa: S311 -- repeatable fake data, not a secret
        for index in range(first, first + size):
            yield self.article(index, rng, stats)

    def values(self, rng):
        company, company2 = rng.sample(COMPANIES, 2)
        tech, tech2 = rng.sample(TECHS, 2)
        return {
            "company": company,
            "company2": company2,
            "product": rng.choice(PRODUCTS),
            "tech": tech,
            "tech2": tech2,
            "industry": rng.choice(INDUSTRIES),
            "city": rng.choice(CITIES),
            "person": rng.choice(self.persons),
            "role": rng.choice(ROLES),
            "verdict": rng.choice(VERDICTS),
            "num": str(rng.randint(2, 950)),
            "pct": str(rng.randint(3, 40)),
        }

    def article(self, index, rng, stats):
        """(field values by attname, tag ids, author ids) of one article."""
        values = self.values(rng)
        title = rng.choice(TITLE_PATTERNS).format(**values)
        title = title[0].upper() + title[1:]
        body, body_html, excerpt, reading_time = rng.choice(self.templates).fill(values, self.word_counts)
        # Older articles first, as a real archive grows: published_at follows the index, with jitter.
        position = (index + rng.random()) / self.total
        published_at = self.now - self.span * (1 - position) - datetime.timedelta(minutes=1)
        status = Article.Status.PUBLISHED.value
        if index % DRAFT_EVERY == DRAFT_AT:
            status, published_at = Article.Status.DRAFT.value, None
            stats["draft"] += 1
        elif index % FUTURE_EVERY == FUTURE_AT:
            published_at = self.now + datetime.timedelta(hours=rng.uniform(1, 24 * 30))
            stats["future"] += 1
        else:
            stats["published"] += 1
        featured = index % FEATURED_EVERY == FEATURED_AT
        stats["featured"] += featured
        hero = rng.random() < HERO_SHARE
        stats["hero"] += hero
        fields = {
            "title": title,
            "slug": f"{slugify(title)[:120].strip('-')}-{self.first_number + index}",
            "standfirst": rng.choice(STANDFIRST_PATTERNS).format(**values),
            "body": body,
            "body_html": body_html,
            "renderer_version": rendering.RENDERER_VERSION,
            "reading_time": reading_time,
            "excerpt": excerpt,
            "section_id": self.section_ids[_pick(rng, self.section_weights)],
            "status": status,
            "is_featured": featured,
            "published_at": published_at,
            "hero_image": self.hero_name if hero else "",
            "hero_renditions": self.hero_renditions if hero else self.no_renditions,
            "hero_alt": "An illustration of server racks with light trails" if hero else "",
            "hero_credit": "Conclave illustration" if hero else "",
        }
        low, high = self.tag_range
        wanted = rng.randint(low, high)
        tag_ids = set()
        while len(tag_ids) < wanted:
            tag_ids.add(self.tag_ids[_pick(rng, self.tag_weights)])
        author_count = 2 if rng.random() < TWO_AUTHORS_SHARE and len(self.author_ids) > 1 else 1
        return fields, sorted(tag_ids), rng.sample(self.author_ids, author_count)


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
    keep a core busy. Article ids come from the table's own sequence first, for the link rows. The
    search_vector column is left out: the trigger of migration 0003 fills it as on any INSERT.
    Columns the generator does not set get their model default, prepared once, like bulk_create.
    """

    def __init__(self):
        self.quote = connection.ops.quote_name
        now = timezone.now()
        fields = [f for f in Article._meta.concrete_fields if not isinstance(f, SearchVectorField)]
        self.attnames = [field.attname for field in fields]
        self.pk = Article._meta.pk.attname
        self.defaults = {}
        for field in fields:
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                self.defaults[field.attname] = now
            elif isinstance(field, JSONField):
                self.defaults[field.attname] = json.dumps(field.get_default(), cls=field.encoder)
            elif not field.primary_key:
                self.defaults[field.attname] = field.get_db_prep_save(field.get_default(), connection)
        # JSON goes as its text, which COPY parses like any input; dumped once per distinct object.
        self.json_fields = {f.attname: f for f in fields if isinstance(f, JSONField)}
        self.dumped = {}
        columns = ", ".join(self.quote(field.column) for field in fields)
        self.article_copy = f"COPY {self.quote(Article._meta.db_table)} ({columns}) FROM STDIN"
        self.tagged_copy = self._copy(TaggedArticle, "content_object", "tag")
        self.byline_copy = self._copy(Article.authors.through, "article", "author")

    def _copy(self, model, *names):
        columns = ", ".join(self.quote(model._meta.get_field(name).column) for name in names)
        return f"COPY {self.quote(model._meta.db_table)} ({columns}) FROM STDIN"

    def _row(self, fields):
        row = []
        for attname in self.attnames:
            if attname not in fields:
                row.append(self.defaults[attname])
            elif attname in self.json_fields:
                value = fields[attname]
                if id(value) not in self.dumped:
                    self.dumped[id(value)] = (value, json.dumps(value, cls=self.json_fields[attname].encoder))
                row.append(self.dumped[id(value)][1])  # the value is kept too, so its id stays unique
            else:
                row.append(fields[attname])
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
                    copy.write_row(self._row(fields))
                    tags.extend((article_id, tag_id) for tag_id in tag_ids)
                    bylines.extend((article_id, author_id) for author_id in author_ids)
            for statement, links in ((self.tagged_copy, tags), (self.byline_copy, bylines)):
                with cursor.copy(statement) as copy:
                    for link in links:
                        copy.write_row(link)
        return len(tags), len(bylines)


def _cumulative(weights):
    total = 0.0
    for weight in weights:
        total += weight
        yield total


def _pick(rng, cumulative):
    """Index drawn with the given cumulative weights (random.choices without building lists)."""
    return min(bisect(cumulative, rng.random() * cumulative[-1]), len(cumulative) - 1)
