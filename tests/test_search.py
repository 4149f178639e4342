"""Search, /search/?q=: published stories only, paginated, safe with any query, on both databases.

Full-text search (ranking, websearch syntax, the trigger and the GIN index) needs PostgreSQL: those
tests are skipped on SQLite, where the LIKE fallback is tested instead.
"""

import datetime
import re
from pathlib import Path

import html5lib
import pytest
from django.contrib.postgres.search import SearchQuery
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from articles.importing import import_file
from articles.models import Article
from articles.search import (
    HEADLINE_CHARS,
    MAX_QUERY_CHARS,
    MAX_WORDS,
    _body_window,
    clean_query,
    highlight,
    mark_terms,
    parse_query,
    query_is_cut,
    websearch_text,
)
from tests.conftest import SEED_SLUG
from tests.factories import ArticleFactory, SectionFactory
from tests.test_statement_timeout import statement_cancelled_where

SEED_FILE = Path(__file__).resolve().parent.parent / "articles" / "demo" / "openai-foxconn.md"
QUERY_BUDGET = 8

postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="full-text search needs PostgreSQL; CI's second run uses it",
)
fallback_only = pytest.mark.skipif(connection.vendor == "postgresql", reason="the fallback path")


def search(client, q, **params):
    return client.get("/search/", {"q": q, **params})


def parse(response):
    return html5lib.parse(response.content, namespaceHTMLElements=False)


def titles(response):
    """The headlines of the results, in order, as text."""
    main = parse(response).find(".//main")
    return ["".join(h.itertext()) for h in main.iter("h2")]


def bulk_articles(count, word, *, status=Article.Status.PUBLISHED, start=0):
    """``count`` stories mentioning ``word``, newest first, inserted in one query (no Markdown render);
    on PostgreSQL the trigger fills their search_vector on insert all the same."""
    section = SectionFactory(name="Bulk", slug="bulk")
    now = timezone.now()
    Article.objects.bulk_create(
        Article(
            title=f"{word} report {i}",
            slug=f"{word.lower()}-report-{i}",
            standfirst=f"Standfirst {i} of the {word} series.",
            body=f"Body of report {i} about {word}.",
            body_html=f"<p>Body of report {i} about {word}.</p>",
            excerpt=f"Body of report {i} about {word}.",
            section=section,
            status=status,
            published_at=now - datetime.timedelta(minutes=i + 1),
        )
        for i in range(start, start + count)
    )


@pytest.fixture
def newsroom(db):
    now = timezone.now()
    live = [
        ArticleFactory(title=f"Quasar chip {i}", published_at=now - datetime.timedelta(hours=i + 1))
        for i in range(3)
    ]
    ArticleFactory(title="Quasar draft", status=Article.Status.DRAFT)
    ArticleFactory(title="Quasar future", published_at=now + datetime.timedelta(hours=1))
    ArticleFactory(title="Unrelated story", body="Nothing to see.")
    return live


# On any database


def test_only_published_stories_are_found_newest_first_on_equal_rank(client, newsroom):
    response = search(client, "quasar")
    assert response.status_code == 200
    assert titles(response) == ["Quasar chip 0", "Quasar chip 1", "Quasar chip 2"]
    assert response.context["paginator"].count == 3


def test_page_structure(client, newsroom):
    response = search(client, "quasar chip")
    doc = parse(response)
    assert doc.find(".//title").text.startswith("Search: quasar chip")
    assert len(doc.findall(".//h1")) == 1
    robots = [m.get("content") for m in doc.iter("meta") if m.get("name") == "robots"]
    assert robots == ["noindex"]
    assert not [link for link in doc.iter("link") if link.get("rel") == "canonical"]
    form = doc.find(".//main//form[@role='search']")
    field = form.find(".//input[@name='q']")
    assert field.get("type") == "search" and field.get("value") == "quasar chip"
    assert form.find(f".//label[@for='{field.get('id')}']") is not None
    assert form.find(".//button[@type='submit']") is not None


def test_pagination_keeps_the_query(client, db):
    bulk_articles(25, "Nebula")
    first = search(client, "nebula")
    assert len(first.context["articles"]) == 20
    next_link = parse(first).find(".//main//a[@rel='next']")
    assert "q=nebula" in next_link.get("href") and "page=2" in next_link.get("href")
    second = search(client, "nebula", page=2)
    assert second.status_code == 200 and len(second.context["articles"]) == 5
    assert set(titles(first)).isdisjoint(titles(second))
    assert "(page 2)" in parse(second).find(".//title").text


@pytest.mark.parametrize("page", ["0", "abc", "3", "-1"])
def test_bad_page_numbers_are_404(client, db, page):
    bulk_articles(25, "Nebula")
    assert search(client, "nebula", page=page).status_code == 404


@pytest.mark.parametrize("q", ["", "   ", "\x1b", "\t\n"])
def test_empty_query_shows_the_form_and_runs_no_search(client, newsroom, q):
    with CaptureQueriesContext(connection) as queries:
        response = search(client, q)
    assert response.status_code == 200
    doc = parse(response)
    assert doc.find(".//main//form//input[@name='q']") is not None
    assert "Type a few words" in response.content.decode()
    assert response.context["articles"] == []
    sql = " ".join(query["sql"] for query in queries.captured_queries)
    assert "COUNT(" not in sql and "LIKE" not in sql and "@@" not in sql


HOSTILE_QUERIES = [
    "quasar\x1fchip",
    "quasar" + "\x07" * 50,
    "a" * 10_000,
    "quasar " * 2_000,
    '"',
    '"quasar',
    'quasar"',
    '"quasar chip" "',
    "'",
    "' OR 1=1 --",
    "'; DROP TABLE articles_article; --",
    "<script>alert(1)</script>",
    '"><script>alert(1)</script>',
    "quasar <script>alert(1)</script>",
    "😀",
    "quasar 🚀",
    "👩‍💻 chip",
    "Привет мир",
    "中文搜索 芯片",
    "مرحبا بالعالم",
    "-",
    "--quasar",
    "-quasar",
    "OR",
    "quasar OR",
    "or or or",
    "| & ! <-> * \\ :",
    "quasar:*",
    "quasar & chip | !draft",
    "quasar <-> chip",
    "quasar <2> chip",
    "(quasar",
    "quasar)",
    "\\",
    "\\\\quasar\\",
    "%",
    "_",
    "%_%",
    "\x1b[31mquasar",
    "\u202equasar",
    "\ufeffquasar\u200b",
    "the",
    "!!!",
    "\x01quasar\x02",
    # A run of operators overflowed PostgreSQL's tsquery stack (found by tests/test_hostile_public_inputs.py).
    "foo <!--- " + "x" * 60 + " ->\n\nfoo <!" + "-" * 67 + ">",
    "foo " + "-" * 199,
]


@pytest.mark.parametrize("q", ["\x00", "quasar\x00chip", "quasar" + "\x00" * 50])
def test_a_nul_in_the_query_is_a_404(client, newsroom, q):
    """No stored text holds NUL (conclave.middleware.UnstorableInputMiddleware answers first)."""
    assert search(client, q).status_code == 404


@pytest.mark.parametrize("q", HOSTILE_QUERIES)
def test_hostile_queries_never_fail_and_are_escaped(client, newsroom, q):
    response = search(client, q)
    assert response.status_code == 200
    content = response.content.decode()
    assert "<script" not in content.lower()
    doc = parse(response)
    assert len(doc.findall(".//h1")) == 1
    shown = doc.find(".//main//form//input[@name='q']").get("value")
    assert len(shown) <= MAX_QUERY_CHARS and "\x00" not in shown
    assert not {"Quasar draft", "Quasar future"} & set(titles(response))


def test_a_long_query_is_cut_and_says_so(client, newsroom):
    response = search(client, "quasar " + "x" * 10_000)
    assert response.status_code == 200
    assert response.context["query_truncated"]
    assert len(response.context["query"]) == MAX_QUERY_CHARS
    assert "too long" in response.content.decode()
    assert not search(client, "quasar").context["query_truncated"]


def test_a_query_of_more_than_max_words_words_is_cut_and_says_so(client, newsroom):
    # The word after the first MAX_WORDS would have found nothing.
    response = search(client, " ".join(["quasar"] * MAX_WORDS + ["nonexistentword"]))
    assert titles(response) == ["Quasar chip 0", "Quasar chip 1", "Quasar chip 2"]
    assert response.context["query_cut"] and not response.context["query_truncated"]
    assert f"more than {MAX_WORDS} words: only the first {MAX_WORDS} were used" in response.content.decode()
    assert not search(client, "quasar chip").context["query_cut"]
    # Cut to MAX_QUERY_CHARS too: the words are what was left out, and what the page says.
    page = search(client, "quasar " * 40).content.decode()
    assert f"only the first {MAX_WORDS} were used" in page and "characters were used" not in page


# One query of many words in each shape that costs: plain words, a long phrase, alternatives,
# exclusions, phrases, and single tokens PostgreSQL's parser splits into many words.
MANY_WORDS = {
    "words": " ".join(f"w{i}" for i in range(40)),
    "phrase": '"' + " ".join(f"w{i}" for i in range(40)) + '"',
    "alternatives": " or ".join(f"w{i}" for i in range(40)),
    "exclusions": "w " + " ".join(f"-x{i}" for i in range(40)),
    "phrases": " ".join(f'"w{i} x{i}"' for i in range(20)),
    "hyphenated": "-".join(f"w{i}" for i in range(60)),
    "underscored": "_".join(f"w{i}" for i in range(60)),
    "dotted": ".".join(str(i) for i in range(90)),
}


@pytest.mark.parametrize("q", MANY_WORDS.values(), ids=MANY_WORDS.keys())
def test_a_query_keeps_max_words_words_whatever_their_shape(q):
    q, _ = clean_query(q)
    assert query_is_cut(q)
    searched = websearch_text(q)
    assert len([word for word in re.findall(r"[^\W_]+", searched) if word != "or"]) == MAX_WORDS


@postgres_only
@pytest.mark.parametrize("q", MANY_WORDS.values(), ids=MANY_WORDS.keys())
def test_the_tsquery_of_any_query_stays_small(db, q):
    searched = websearch_text(clean_query(q)[0])
    with connection.cursor() as cursor:
        cursor.execute("SELECT websearch_to_tsquery('english', %s)::text", [searched])
        (tsquery,) = cursor.fetchone()
    # Its operands, the lexemes: a hyphenated word is one more beside its parts.
    assert len(re.findall(r"'[^']*'", tsquery)) <= MAX_WORDS + 1


def test_parse_query_cuts_a_phrase_and_drops_an_exclusion_that_do_not_fit():
    words = [f"w{i}" for i in range(MAX_WORDS - 2)]
    assert parse_query(f'{" ".join(words)} "a b c" d') == [([*words, "a b"], [])]
    assert parse_query(f'{" ".join(words)} x -"d e" -f g') == [([*words, "x"], ["f"])]
    assert query_is_cut(f'{" ".join(words)} "a b c"')
    assert not query_is_cut(f'{" ".join(words)} "a b"')


def test_highlighting_marks_the_words_and_escapes_the_rest(client, db):
    ArticleFactory(
        title='<b>Quasar</b> & "friends" \x01quasar\x02',
        standfirst="<script>alert(1)</script> The quasar <img src=x onerror=alert(1)>",
        body="A body about quasars & <i>other</i> things.",
    )
    response = search(client, "quasar")
    assert titles(response)
    content = response.content.decode()
    assert "<script" not in content and "<img src=x" not in content and "<b>" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert "&lt;b&gt;<mark>Quasar</mark>&lt;/b&gt; &amp; &quot;friends&quot;" in content
    assert "The <mark>quasar</mark> &lt;img" in content


def test_non_latin_text_is_found(client, db):
    ArticleFactory(title="Новый процессор", standfirst="Тест.")
    ArticleFactory(title="新的芯片 工厂", standfirst="测试")
    assert titles(search(client, "процессор")) == ["Новый процессор"]
    assert search(client, "工厂").status_code == 200


def measure(client, q):
    cache.clear()  # the footer's archive link is cached: measure the cold, worst case
    with CaptureQueriesContext(connection) as queries:
        response = search(client, q)
    assert response.status_code == 200
    return len(queries), len(response.context["articles"])


def test_query_count_does_not_grow_with_the_results(client, db):
    bulk_articles(10, "Nebula")
    small, shown_small = measure(client, "nebula")
    bulk_articles(190, "Nebula", start=10)
    large, shown_large = measure(client, "nebula")
    assert (shown_small, shown_large) == (10, 20)
    assert small == large <= QUERY_BUDGET
    assert measure(client, "nebula")[0] == large  # and a page of the same size later on


def test_clean_query():
    assert clean_query("  a\x00b\t\tc \x1b ") == ("a b c", False)
    assert clean_query("x" * 300) == ("x" * MAX_QUERY_CHARS, True)
    assert clean_query("x" * MAX_QUERY_CHARS) == ("x" * MAX_QUERY_CHARS, False)
    assert clean_query("\u200b" * 1000 + "quasar") == ("", True)
    assert clean_query("😀 Привет 👩\u200d💻") == ("😀 Привет 👩\u200d💻", False)
    assert clean_query("\ufeff\u202equa\u200bsar\u00ad") == ("quasar", False)


def test_websearch_text_keeps_the_terms_in_websearch_syntax():
    assert websearch_text('supply "data centre" -OpenAI or chips <!----->') == (
        'supply "data centre" -OpenAI or chips'
    )
    assert websearch_text("-" * 199) == ""


def test_parse_query():
    assert parse_query('supply "data centre" -OpenAI -"big deal"') == [
        (["supply", "data centre"], ["OpenAI", "big deal"])
    ]
    assert parse_query("a b or c OR -d") == [(["a", "b"], []), (["c"], [])]
    assert parse_query("' OR 1=1 --") == [(["1=1"], [])]
    assert parse_query('"unbalanced phrase') == [(["unbalanced phrase"], [])]
    assert parse_query('| & ! <-> * \\ : 😀 "') == []


def test_highlight_escapes_everything_but_the_marks():
    raw = "a \x01<b>\x02 &amp; &lt;i&gt; \x02stray \x01"
    assert highlight(raw) == "a <mark>&lt;b&gt;</mark> &amp;amp; &amp;lt;i&amp;gt; stray "
    assert highlight(raw, entities=True) == "a <mark>&lt;b&gt;</mark> &amp; &lt;i&gt; stray "
    pattern = re.compile("quasar", re.I)
    assert mark_terms("<Quasar> & quasar", pattern) == "&lt;<mark>Quasar</mark>&gt; &amp; <mark>quasar</mark>"


# PostgreSQL: full-text search


@pytest.fixture
def seeded(db):
    seed, _ = import_file(SEED_FILE)
    now = timezone.now()
    others = {
        "body_foxconn": ArticleFactory(
            title="Contract makers expand in Mexico",
            standfirst="Factories move north.",
            body="Assemblers such as Foxconn and Pegatron are adding lines in Mexico.",
            published_at=now - datetime.timedelta(hours=1),
        ),
        "supply_chain": ArticleFactory(
            title="Chip supply chain strains ease",
            standfirst="Lead times for memory fall.",
            body="The supply chain for DRAM has recovered after two difficult years.",
            published_at=now - datetime.timedelta(hours=2),
        ),
        "unrelated": ArticleFactory(title="Quiet week for browsers", body="Nothing happened."),
    }
    return seed, others


@postgres_only
def test_the_seed_story_comes_first_for_its_subject(client, seeded):
    seed, others = seeded
    shown = titles(search(client, "Foxconn"))
    assert shown[0] == seed.title
    assert others["body_foxconn"].title in shown
    assert others["unrelated"].title not in shown


@postgres_only
def test_websearch_exclusion(client, seeded):
    seed, others = seeded
    assert seed.title in titles(search(client, "supply chain"))
    shown = titles(search(client, "supply chain -OpenAI"))
    assert seed.title not in shown and others["supply_chain"].title in shown
    assert titles(search(client, '"supply chain" -OpenAI -DRAM')) == []


@postgres_only
def test_a_title_match_outranks_a_body_match(client, db):
    now = timezone.now()
    ArticleFactory(
        title="Markets wobble",
        body="Gadgetron gadgetron, and again Gadgetron: a body full of the word.",
        published_at=now - datetime.timedelta(minutes=5),  # newer: recency must not decide
    )
    ArticleFactory(title="Gadgetron raises prices", published_at=now - datetime.timedelta(days=3))
    assert titles(search(client, "gadgetron")) == ["Gadgetron raises prices", "Markets wobble"]


@postgres_only
def test_results_are_highlighted(client, seeded):
    seed, _ = seeded
    response = search(client, "Foxconn")
    first = response.context["articles"][0]
    assert first.slug == SEED_SLUG
    assert "<mark>Foxconn</mark>" in first.search_title
    assert "<mark>Foxconn</mark>" in first.search_standfirst
    assert "<mark>Foxconn</mark>" in first.search_snippet
    assert "##" not in first.search_snippet and "<p>" not in first.search_snippet
    main = parse(response).find(".//main")
    assert (
        main.find(".//h2//mark") is not None and main.find(".//p[@class='search-snippet']/mark") is not None
    )


@postgres_only
def test_search_uses_the_stored_vector_and_runs_headlines_for_the_page_only(client, db):
    bulk_articles(30, "Nebula")
    with CaptureQueriesContext(connection) as queries:
        response = search(client, "nebula")
    sql = [query["sql"] for query in queries.captured_queries]
    assert not any("to_tsvector" in statement for statement in sql)
    assert any(re.search(r'"search_vector" @@ \(?websearch_to_tsquery', statement) for statement in sql)
    # Nor is the (large) vector sent back to Python.
    assert {"body", "body_html", "search_vector"} <= response.context["articles"][0].get_deferred_fields()
    # The matches' ids are found once, by date; the page count is theirs, not a second search.
    assert sum("@@" in statement for statement in sql) == 1
    assert not any("COUNT(" in statement for statement in sql)
    assert response.context["paginator"].count == 30


def with_body_html(body_html, **fields):
    """A published story whose body_html is exactly ``body_html`` (its body too, for the vector)."""
    article = ArticleFactory(body="Short.", **fields)
    Article.objects.filter(pk=article.pk).update(body=body_html, body_html=body_html)  # and the trigger
    return article


def headline_window(article, query):
    return Article.objects.annotate(text=_body_window(query)).get(pk=article.pk).text


@postgres_only
def test_the_snippet_comes_from_a_bounded_window_at_the_first_match(client, db):
    """ts_headline never reads a whole body: a match 144,000 characters in is shown all the same."""
    body_html = "<p>" + "Markets were quiet and prices held. " * 4000 + "</p>"
    # The window opens inside this tag: what is left of it is no text of the snippet.
    body_html += '<p>At last the <a title="' + "x" * 300 + '">Gadgetron</a> arrived.</p>'
    article = with_body_html(body_html, title="A long read", standfirst="Markets.")
    with CaptureQueriesContext(connection) as queries:
        response = search(client, "gadgetron")
    (found,) = response.context["articles"]
    assert "<mark>Gadgetron</mark>  arrived" in found.search_snippet
    assert "title" not in found.search_snippet and "x" * 10 not in found.search_snippet
    # What ts_headline reads: the window, tags stripped, even the one cut at its start.
    assert headline_window(article, "gadgetron").split() == ["Gadgetron", "arrived."]
    (page,) = [query["sql"] for query in queries.captured_queries if "ts_headline" in query["sql"]]
    body_headline = page[page.rindex("ts_headline(") :]
    assert body_headline.count('"body_html"') == 2  # where the first match is, and the window from there
    assert f", {HEADLINE_CHARS}), '^[^<]*>'" in body_headline


@postgres_only
def test_the_window_is_at_most_headline_chars_and_drops_a_tag_it_cuts(db):
    # The link's tag starts 5 characters before the window's end: "<a hr" is in it, and goes.
    text = "Gadgetron " + ("word " * HEADLINE_CHARS)[: HEADLINE_CHARS - len("<p>Gadgetron ") - 5]
    article = with_body_html(f'<p>{text}<a href="https://example.com/">link</a> and more.</p>')
    window = headline_window(article, "gadgetron")
    assert window.split() == text.split()
    far = with_body_html("<p>" + "word " * 39_000 + "Gadgetron.</p>")
    assert headline_window(far, "gadgetron").split() == ["word"] * 40 + ["Gadgetron."]


@postgres_only
def test_a_story_found_only_by_a_stem_shows_a_snippet_of_its_start(client, db):
    ArticleFactory(title="Factory news", body="The chip plants expand. " + "More words follow here. " * 200)
    (found,) = search(client, "chips").context["articles"]
    assert "<mark>chip</mark> plants expand" in found.search_snippet


@postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("statement", ["@@", "ts_headline"], ids=["finding the matches", "the page"])
def test_a_search_stopped_by_the_statement_timeout_says_so(client, newsroom, statement, caplog):
    with statement_cancelled_where(statement):
        response = search(client, "quasar chip")
    assert response.status_code == 504
    assert response["Cache-Control"] == "no-store"
    doc = parse(response)
    assert "".join(doc.find(".//h1").itertext()) == "Search took too long"
    assert doc.find(".//main//form//input[@name='q']").get("value") == "quasar chip"
    assert "Try again with fewer words" in response.content.decode()
    assert "We are back in a moment" not in response.content.decode()
    assert any(r.name == "articles.search" and "statement timeout" in r.getMessage() for r in caplog.records)
    # Nothing of it was kept: the same address, asked again, searches.
    again = search(client, "quasar chip")
    assert again.status_code == 200 and len(titles(again)) == 3


@postgres_only
def test_the_gin_index_exists(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'articles_article' AND indexname = %s",
            ["articles_article_search_vector_gin"],
        )
        (indexdef,) = cursor.fetchone()
    assert "USING gin (search_vector)" in indexdef


@postgres_only
def test_the_trigger_keeps_the_vector_current(db):
    def matches(article, word):
        found = Article.objects.filter(pk=article.pk, search_vector=SearchQuery(word, config="english"))
        return found.exists()

    article = ArticleFactory(title="Zeppelin returns", standfirst="Airships.", body="Helium supply.")
    assert Article.objects.get(pk=article.pk).search_vector
    assert matches(article, "zeppelin") and matches(article, "airship") and matches(article, "helium")
    Article.objects.filter(pk=article.pk).update(title="Dirigible returns")
    assert matches(article, "dirigible") and not matches(article, "zeppelin")
    article.refresh_from_db()
    article.body = "Hydrogen supply."
    article.save()
    assert matches(article, "hydrogen") and not matches(article, "helium")


# Elsewhere: the fallback


@fallback_only
def test_fallback_matches_case_insensitively_in_each_field(client, db):
    now = timezone.now()
    ArticleFactory(title="QUANTUM leap", published_at=now - datetime.timedelta(hours=1))
    ArticleFactory(standfirst="A quantum result.", published_at=now - datetime.timedelta(hours=2))
    ArticleFactory(
        title="In the body", body="Deep in the text: Quantum.", published_at=now - datetime.timedelta(hours=3)
    )
    ArticleFactory(title="Nothing", body="Classical.")
    shown = titles(search(client, "quantum"))
    assert shown[0] == "QUANTUM leap" and shown[2] == "In the body" and len(shown) == 3


@fallback_only
def test_fallback_ands_the_terms_across_fields(client, db):
    ArticleFactory(title="Quantum chips", body="Made of silicon.")
    ArticleFactory(title="Quantum software", body="Runs on anything.")
    ArticleFactory(title="Silicon news", body="Nothing quantum-free here.", standfirst="")
    assert sorted(titles(search(client, "quantum SILICON"))) == ["Quantum chips", "Silicon news"]
    assert titles(search(client, "quantum silicon chips")) == ["Quantum chips"]
    assert titles(search(client, "quantum -silicon")) == ["Quantum software"]
    assert titles(search(client, '"quantum software"')) == ["Quantum software"]
    assert sorted(titles(search(client, "chips or software"))) == ["Quantum chips", "Quantum software"]
    assert titles(search(client, "quantum nonexistentword")) == []


@fallback_only
def test_fallback_highlights_after_escaping(client, db):
    ArticleFactory(title="Quantum <leap>", standfirst="Big QUANTUM & small.")
    article = search(client, "quantum").context["articles"][0]
    assert article.search_title == "<mark>Quantum</mark> &lt;leap&gt;"
    assert article.search_standfirst == "Big <mark>QUANTUM</mark> &amp; small."


@postgres_only
def test_a_word_in_very_many_stories_ranks_only_the_newest_matches(client, db, no_page_cache, monkeypatch):
    from articles import search as search_module

    monkeypatch.setattr(search_module, "RANKED_MATCHES", 5)
    oldest = ArticleFactory(
        title="Quasar quasar quasar",
        standfirst="Quasar.",
        body="Quasar.",
        published_at=timezone.now() - timezone.timedelta(days=30),
    )
    bulk_articles(7, "Quasar")
    response = search(client, "quasar")
    assert response.context["paginator"].count == 5
    assert response.context["paginator"].is_capped  # and the page says there is more, in the archive
    assert oldest.title not in titles(response)

    monkeypatch.setattr(search_module, "RANKED_MATCHES", 50)
    response = search(client, "quasar")
    assert titles(response)[0] == oldest.title  # with every match ranked, the best one leads


def test_a_snippet_has_one_ellipsis_at_each_end(client, db):
    ArticleFactory(title="Markets", body="Gadgetron news. " + "More words follow here. " * 60)
    main = parse(search(client, "gadgetron")).find(".//main")
    snippet = "".join(main.find(".//p[@class='search-snippet']").itertext())
    assert snippet.startswith("… ") and snippet.endswith(" …")
    assert "… …" not in snippet and "……" not in snippet


def test_a_group_that_excludes_what_it_includes_is_no_search():
    """ "data -data" can match nothing, yet on PostgreSQL it walked every story's vector to find that."""
    assert parse_query("data -data") == []
    assert parse_query('data -Data or chips -"quantum sensor"') == [(["chips"], ["quantum sensor"])]
    assert websearch_text("network -NETWORK") == ""


def timeout_seen_by_the_scan(client, q):
    """statement_timeout as the statement that finds the matches (the @@ one) runs under it."""
    seen = []

    def show_first(execute, sql, params, many, context):
        if "@@" in sql and not seen:
            with connection.cursor() as cursor:
                cursor.execute("SHOW statement_timeout")
                seen.append(cursor.fetchone()[0])
        return execute(sql, params, many, context)

    with connection.execute_wrapper(show_first):
        assert search(client, q).status_code == 200
    return seen


@postgres_only
def test_finding_the_matches_is_bounded_by_the_scan_limit(client, newsroom, settings):
    assert timeout_seen_by_the_scan(client, "quasar chip") == ["1s"]  # SCAN_SECONDS
    settings.DATABASE_STATEMENT_TIMEOUT = 0.25  # a web limit below it wins
    assert timeout_seen_by_the_scan(client, "quasar") == ["250ms"]
