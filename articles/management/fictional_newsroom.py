"""The fictional newsroom seed_bulk fills a database with: its words, its story templates, and the
generator that draws articles from them (all companies and people are made up).

Rendering each article would cost a forked Markdown render (see Article.save). Instead each body
template is rendered once with placeholder tokens where the varying words go; an article then gets its
words substituted into the Markdown, the rendered HTML and the paragraph texts alike, and its excerpt
and reading time come from rendering's own functions over those. So what is stored is what Article.save
would store for the same body (tests/test_seed_bulk.py holds it to that).
"""

import datetime
import html
import random
import re
from bisect import bisect

from django.utils import timezone
from django.utils.text import slugify

from articles import rendering
from articles.models import Article, Author, Section, Tag

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


# --- the supporting rows, unsaved: seed_bulk stores those not there yet ------------------------------


def section_rows(count):
    """The first ``count`` sections, in navigation order."""
    names = [SECTION_NAMES[i] if i < len(SECTION_NAMES) else f"Section {i + 1}" for i in range(count)]
    return [
        Section(
            name=name,
            slug=slugify(name),
            description=f"The latest {name} news from Conclave TechMedia.",
            position=(i + 1) * 10,
        )
        for i, name in enumerate(names)
    ]


def tag_rows(count):
    """The first ``count`` tags, in order of popularity (see ArticleGenerator)."""
    names = list(TAG_TOPICS)
    names += [f"{topic} {qualifier}" for qualifier in TAG_QUALIFIERS for topic in TAG_TOPICS]
    names += [f"Topic {i}" for i in range(len(names), count)]
    # Rendered once, as Tag.render_description would; only the tag name differs, and names are plain words.
    description_html = _Filler(rendering.render_body(_tokenise(TAG_DESCRIPTION)))
    return [
        Tag(
            name=name,
            slug=slugify(name),
            description=TAG_DESCRIPTION.format(tag=name),
            description_html=description_html({"tag": html.escape(name)}),
        )
        for name in names[:count]
    ]


def author_rows(count):
    """``count`` authors, named alike whatever the seed."""
    pairs = [(first, last) for last in LAST_NAMES for first in FIRST_NAMES]
    # The same names whatever --seed is, so that a second run reuses the first run's authors.
    random.Random(0).shuffle(pairs)  # noqa: S311 -- fake names, not a secret
    result = []
    for i in range(count):
        first, last = pairs[i % len(pairs)]
        name = f"{first} {last}" if i < len(pairs) else f"{first} {last} {i // len(pairs) + 1}"
        bio = AUTHOR_BIO.format(
            name=name,
            tech=TECHS[i % len(TECHS)],
            industry=INDUSTRIES[i % len(INDUSTRIES)],
            city=CITIES[i % len(CITIES)],
        )
        result.append(Author(name=name, slug=slugify(name), bio=bio))
    return result


# --- articles ----------------------------------------------------------------------------------------


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


class RenderedTemplate:
    """A body template rendered once; fill(values) gives body, body_html, excerpt and reading time."""

    def __init__(self, template):
        body = _tokenise(template)
        body_html = rendering.render_body(body)
        self.body, self.body_html = _Filler(body), _Filler(body_html)
        self.paragraphs = [_Filler(para) for para in rendering.paragraph_texts(body_html)]
        self.words = rendering.count_words(body)
        slots = _TOKEN_RE.findall(body)
        self.slot_counts = {slot: slots.count(slot) for slot in set(slots)}

    def fill(self, values, word_counts):
        # Each token counted as one word; a value of several words ("Dana Okafor") adds the rest.
        words = self.words + sum((word_counts[values[slot]] - 1) * n for slot, n in self.slot_counts.items())
        return (
            self.body(values),
            self.body_html(values),
            # Paragraphs filled lazily: the excerpt rarely needs more than the first two.
            rendering.excerpt_of_paragraphs(para(values) for para in self.paragraphs),
            rendering.minutes_to_read(words),
        )


class ArticleGenerator:
    """Makes the field values of one article at a time, as a dict by attname, with tag and author ids.

    Slugs are numbered from ``first_number`` on, so that a second run adds to the first.
    """

    def __init__(self, seed, total, first_number, sections, tags, authors, hero):
        self.seed = seed
        self.total = total
        self.first_number = first_number
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
        self.templates = [RenderedTemplate(template) for template in BODY_TEMPLATES]
        self.hero_id = hero
        self.persons = [f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES]
        vocabulary = COMPANIES + PRODUCTS + TECHS + INDUSTRIES + CITIES + ROLES + VERDICTS + self.persons
        vocabulary += [str(n) for n in range(1, 1000)]
        self.word_counts = {word: rendering.count_words(word) for word in vocabulary}

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
            "hero_id": self.hero_id if hero else None,
        }
        low, high = self.tag_range
        wanted = rng.randint(low, high)
        tag_ids = set()
        while len(tag_ids) < wanted:
            tag_ids.add(self.tag_ids[_pick(rng, self.tag_weights)])
        author_count = 2 if rng.random() < TWO_AUTHORS_SHARE and len(self.author_ids) > 1 else 1
        return fields, sorted(tag_ids), rng.sample(self.author_ids, author_count)


def _cumulative(weights):
    total = 0.0
    for weight in weights:
        total += weight
        yield total


def _pick(rng, cumulative):
    """Index drawn with the given cumulative weights (random.choices without building lists)."""
    return min(bisect(cumulative, rng.random() * cumulative[-1]), len(cumulative) - 1)
