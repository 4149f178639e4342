"""Search: /search/?q=, over the published stories only.

PostgreSQL: full-text search over the stored ``Article.search_vector`` (kept current by the trigger
of migration 0003: title A, standfirst B, body C, 'english'; GIN index), never a vector computed per
query. The query is parsed by ``websearch_to_tsquery`` ("quoted phrases", ``-word``, ``or``) after
``parse_query`` has kept its terms (see ``websearch_text``): PostgreSQL accepts any text without a
syntax error, but not any length of operators. Results are ordered by ``ts_rank`` (normalised by document
length, so a long story does not win by size alone), then newest first.

Any other database (SQLite in development and in the first CI run): every word of the query must
occur, case-insensitively, in the title, standfirst or body; newest first. The same small syntax is
understood: "a phrase" is one term, ``-word`` / ``-"a phrase"`` must not occur, ``or`` between
words gives alternatives (``a b or c`` = (a and b) or c, as in PostgreSQL); a token without any
letter or digit (``&``, ``|``, ``!``, ``<->``, ``*``, ``\\``, a lone quote, emoji) is ignored, and a
group with nothing left to find is dropped. SQLite's LIKE folds ASCII letters only, so there
"Привет" does not find "привет"; there is no stemming either, and the snippet is the stored
``excerpt`` (the body's opening), shown only when it contains a match.

Highlighting (made safe, on both paths): the text is never trusted. On PostgreSQL ``ts_headline``
marks matches with two control characters (``MARK_START``, ``MARK_STOP``) that are first removed from
the source text in SQL, so any pair in the output is ours; Python then escapes every piece of text
and only afterwards turns the pairs into ``<mark>…</mark>``. On the fallback the matches are found in
Python and each piece is escaped the same way. The body snippet comes from ``body_html`` with its
tags stripped in SQL (and its entities decoded before escaping), not from the Markdown ``body``:
the reader gets plain sentences rather than ``##``, ``**`` and ``[text](https://…)`` syntax, and
body_html is already normalised and sanitised.

Bounds (issue 15: one search of three phrases took 46 s over 20 bodies of 199,000 characters): a
query keeps at most MAX_WORDS words, whatever their grouping (``query_is_cut`` says when some were
left out, and the page tells the reader); ``ts_headline`` reads HEADLINE_CHARS of a body, from just
before the first place one of the query's words appears, never the whole body; and every statement of
a web request runs under the statement timeout (conclave/database.py). A search cut short by it gets
a page of its own (HTTP 504, not kept by any cache) asking for fewer words.
"""

import html
import logging
import re
import unicodedata

from django.conf import settings
from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank
from django.db import DatabaseError, connections, transaction
from django.db.models import F, Func, Q, TextField, Value
from django.db.models.functions import Coalesce, Greatest, Length, Substr
from django.template.response import TemplateResponse
from django.utils.html import escape
from django.utils.safestring import mark_safe

from articles import cachekeys
from articles.models import Article
from articles.views import ArticleListView, KnownCount
from conclave.database import statement_cancelled

logger = logging.getLogger(__name__)

MAX_QUERY_CHARS = 200
# Words searched for in one query, in all: those of phrases, alternatives and exclusions alike. A word
# is a run of letters or digits ("node.js" is two), near enough to what PostgreSQL makes an operand of
# the tsquery. Ranking and highlighting evaluate every operand for each story (three LIKEs each on the
# fallback), so this bounds them; eight is more than readers type (a name, a phrase, a word left out).
MAX_WORDS = 8
SEARCH_CONFIG = "english"  # the configuration of the trigger ('pg_catalog.english')
# ts_rank normalisation 1: divide by 1 + log(document length). Weights stay A 1.0, B 0.4, C 0.2, so
# a title match still outranks a body match.
RANK_NORMALIZATION = 1
# Relevance ranking covers this many of the newest matches; fewer matches are all ranked.
RANKED_MATCHES = 1000
# Finding the matches walks the stories newest first until RANKED_MATCHES are found: for a query that
# almost nothing matches (a phrase of words in most stories, a word with most others excluded) that is
# every story's vector, 0.4 s warm and seconds from disk at 100,000. The walk gets at most this long
# (or the web's DATABASE_STATEMENT_TIMEOUT if shorter); past it the reader is asked for fewer words.
SCAN_SECONDS = 1.0
SNIPPET_OPTIONS = {"max_words": 30, "min_words": 12, "max_fragments": 2, "fragment_delimiter": " … "}
# ts_headline parses all the text it is given, and its cost grows with the text and the matches in it:
# 5.6 s for one body of 199,000 characters full of matches, about 4 ms for 2,000 of them. The snippet
# (two fragments of at most 30 words) comes from HEADLINE_CHARS of body_html starting HEADLINE_LEAD_CHARS
# before the first place one of the query's words appears as typed (a regular expression: under a
# millisecond for the longest body), or at the body's start when none does (a stemmed match only, as
# "chip" for "chips"). A story whose words are all further on is still found; it shows no snippet.
HEADLINE_CHARS = 2000
HEADLINE_LEAD_CHARS = 200

MARK_START = "\x01"
MARK_STOP = "\x02"
_SENTINELS = MARK_START + MARK_STOP
_MARKED_RE = re.compile(f"{MARK_START}([^{_SENTINELS}]*){MARK_STOP}")
# A tag of sanitised HTML: quoted attribute values may contain ">".
_TAG_PATTERN = r"""<([^>"']|"[^"]*"|'[^']*')*>"""
_TOKEN_RE = re.compile(r'(-?)"([^"]*)"?|(-?)([^\s"]+)')
# A word as PostgreSQL's parser counts one: a run of letters or digits ("a_b" is two, as "a-b" is).
_WORD_RE = re.compile(r"[^\W_]+")
# The rest of a tag cut by the start of a window of body_html, and the part of one cut by its end
# (once whole tags are gone, a "<" left can only be that: body_html escapes it in text).
_CUT_TAG_START = "^[^<]*>"
_CUT_TAG_END = "<.*$"
_SPACE_RE = re.compile(r"\s+")
_KEPT_FORMAT_CHARS = {"\u200c", "\u200d"}  # ZWNJ and ZWJ belong to words (Persian, Hindi) and emoji


def _clean_char(char):
    category = unicodedata.category(char)
    if category in ("Cc", "Cs"):
        return " "
    if category == "Cf" and char not in _KEPT_FORMAT_CHARS:
        return ""
    return char


def clean_query(raw):
    """(query, truncated): control characters (NUL included: PostgreSQL rejects it) become spaces,
    invisible format characters (bidi overrides, zero-width spaces, BOM) go, runs of space become
    one; the result is cut to MAX_QUERY_CHARS."""
    cut = len(raw) > MAX_QUERY_CHARS * 4  # the rest would be cut anyway: spare the work below
    text = "".join(_clean_char(char) for char in raw[: MAX_QUERY_CHARS * 4])
    text = _SPACE_RE.sub(" ", text).strip()
    return text[:MAX_QUERY_CHARS].rstrip(), cut or len(text) > MAX_QUERY_CHARS


def search(queryset, query):
    """The articles of ``queryset`` matching ``query``, best first, each to be passed to ``decorate``,
    and how many there are when the search had to count them anyway (a KnownCount), else None."""
    if connections[queryset.db].vendor == "postgresql":
        return _postgres_search(queryset, query)
    return _fallback_search(queryset, query), None


def decorate(articles, query, vendor):
    """Give each found article SafeString ``search_title``, ``search_standfirst`` and
    ``search_snippet`` (empty when the body has no match to show)."""
    if vendor == "postgresql":
        for article in articles:
            article.search_title = highlight(article.headline_title)
            article.search_standfirst = highlight(article.headline_standfirst)
            snippet = article.headline_body
            article.search_snippet = highlight(snippet, entities=True) if MARK_START in snippet else ""
        return
    pattern = _terms_pattern(parse_query(query))
    for article in articles:
        article.search_title = mark_terms(article.title, pattern)
        article.search_standfirst = mark_terms(article.standfirst, pattern)
        found = pattern is not None and pattern.search(article.excerpt)
        # The page puts an ellipsis at each end of a snippet; a cut excerpt already ends with one.
        snippet = article.excerpt.removesuffix("…").rstrip()
        article.search_snippet = mark_terms(snippet, pattern) if found else ""


# PostgreSQL


def _strip_sentinels(expression):
    return Func(expression, Value(_SENTINELS), Value(""), function="translate", output_field=TextField())


def _headline(expression, query, **options):
    return SearchHeadline(
        _strip_sentinels(expression),
        query,
        config=SEARCH_CONFIG,
        start_sel=MARK_START,
        stop_sel=MARK_STOP,
        **options,
    )


def websearch_text(query):
    """The query as websearch_to_tsquery should see it: the terms ``parse_query`` keeps (at most
    MAX_WORDS words, each term with a letter or digit), in the same syntax. PostgreSQL's own parser
    accepts any text, but a long run of operators ("<!-------…->") overflows its tsquery stack: an
    error, not a search."""

    def written(term, negated=False):
        return ("-" if negated else "") + (f'"{term}"' if " " in term else term)

    groups = parse_query(query)
    return " or ".join(
        " ".join([*(written(t) for t in include), *(written(t, negated=True) for t in exclude)])
        for include, exclude in groups
    )


def _postgres_search(queryset, query):
    tsquery = SearchQuery(websearch_text(query), search_type="websearch", config=SEARCH_CONFIG)
    # Ranking decompresses every match's vector: for a word found in most stories, seconds at 100,000
    # for a page of 20. So the newest RANKED_MATCHES matches are found first, by date (one query; the
    # planner takes the GIN index for rarer words), and only those are ranked. Their number is the
    # result count too: the paginator needs no second search (see BoundedPaginator).
    try:
        with transaction.atomic(using=queryset.db):  # a savepoint: a failed search spoils nothing else
            _limit_scan(queryset.db)
            found = list(
                queryset.filter(search_vector=tsquery)
                .order_by("-published_at", "-id")
                .values_list("pk", flat=True)[: RANKED_MATCHES + 1]
            )
    except DatabaseError as exc:
        if statement_cancelled(exc):
            raise  # not a query that finds nothing: the reader is told it took too long (SearchView)
        # Whatever PostgreSQL still cannot turn into a query is a search that finds nothing.
        logger.warning("Search for %r failed: %s", query[:80], exc)
        found = []
    matches = queryset.filter(pk__in=found[:RANKED_MATCHES])
    ranked = (
        matches.defer("search_vector")  # as large as the body: matched and ranked in SQL, never needed here
        .annotate(
            rank=SearchRank(F("search_vector"), tsquery, normalization=RANK_NORMALIZATION),
            # ts_headline is costly: PostgreSQL evaluates these after the sort and LIMIT, for the page only.
            headline_title=_headline(F("title"), tsquery, highlight_all=True),
            headline_standfirst=_headline(F("standfirst"), tsquery, highlight_all=True),
            headline_body=_headline(_body_window(query), tsquery, **SNIPPET_OPTIONS),
        )
        .order_by("-rank", "-published_at", "-id")
    )
    return ranked, KnownCount(min(len(found), RANKED_MATCHES), more=len(found) > RANKED_MATCHES)


def _regexp_replace(expression, pattern, replacement, flags=""):
    return Func(
        expression,
        Value(pattern),
        Value(replacement),
        Value(flags),
        function="regexp_replace",
        output_field=TextField(),
    )


def _body_window(query):
    """The text of at most HEADLINE_CHARS characters of body_html, starting HEADLINE_LEAD_CHARS before
    the first of the query's words it holds (case-insensitively, as typed), else at its start; tags
    stripped, the ones cut at either end included."""
    terms = [term for include, _ in parse_query(query) for term in include]
    words = sorted({word.lower() for term in terms for word in _WORD_RE.findall(term)})
    # \w runs hold no character that is special in a PostgreSQL regular expression. The first group
    # is the text before the first match (the lazy .*? stops there); NULL when there is none.
    before = Func(
        F("body_html"),
        Value(f"(?i)^(.*?)(?:{'|'.join(words)})"),
        function="substring",
        output_field=TextField(),
    )
    start = Greatest(Coalesce(Length(before), 0) + 1 - HEADLINE_LEAD_CHARS, 1)
    window = Substr(F("body_html"), start, HEADLINE_CHARS)
    text = _regexp_replace(_regexp_replace(window, _CUT_TAG_START, ""), _TAG_PATTERN, " ", "g")
    return _regexp_replace(text, _CUT_TAG_END, "")


def _limit_scan(database):
    """Give the statements left in this transaction at most SCAN_SECONDS each (SET LOCAL: it ends with
    the transaction, which outside a request's own transaction is the search's savepoint block)."""
    web_limit = settings.DATABASE_STATEMENT_TIMEOUT
    seconds = min(SCAN_SECONDS, web_limit) if web_limit > 0 else SCAN_SECONDS
    with connections[database].cursor() as cursor:
        cursor.execute("SELECT set_config('statement_timeout', %s, true)", [f"{round(seconds * 1000)}ms"])


def highlight(raw, *, entities=False):
    """``ts_headline`` output as safe HTML: every piece escaped, then the marked words in <mark>."""

    def text(piece):
        if entities:  # text of body_html: decode &amp; and friends once, so they are escaped once
            piece = html.unescape(piece)
        return escape(piece.translate({ord(char): None for char in _SENTINELS}))

    return _wrap_matches(raw, _MARKED_RE, text, group=1)


def _wrap_matches(text, pattern, clean, group=0):
    """``text`` as safe HTML: every piece passed through ``clean`` (which escapes), matches in <mark>."""
    out, position = [], 0
    for match in pattern.finditer(text):
        out.append(clean(text[position : match.start()]))
        out.append(f"<mark>{clean(match.group(group))}</mark>")
        position = match.end()
    out.append(clean(text[position:]))
    return mark_safe("".join(out))  # noqa: S308 - built from escaped pieces only


# Fallback


def parse_query(query):
    """[(include, exclude), …]: the or-groups of the query, each a pair of lists of terms; at most
    MAX_WORDS words in all (a phrase is cut after the last word that fits)."""
    return _parse(query)[0]


def query_is_cut(query):
    """Whether ``parse_query`` left words of ``query`` out (more than MAX_WORDS)."""
    return _parse(query)[1]


def _parse(query):
    groups, include, exclude, words_left, cut = [], [], [], MAX_WORDS, False
    for match in _TOKEN_RE.finditer(query):
        negated, phrase, word_negated, word = match.groups()
        if word is not None and word.lower() == "or" and not word_negated:
            groups.append((include, exclude))
            include, exclude = [], []
            continue
        term = (phrase if phrase is not None else word).strip()
        words = list(_WORD_RE.finditer(term))
        if not words:
            continue
        excluded = bool(negated or word_negated)
        if len(words) > words_left:
            cut = True
            if excluded or not words_left:
                continue  # a part of an excluded phrase would leave out more than the reader asked
            term = term[: words[words_left - 1].end()]
        words_left -= min(len(words), words_left)
        (exclude if excluded else include).append(term)
    groups.append((include, exclude))
    # A group that excludes a term it includes ("data -data") can match nothing: it is no search at all.
    return [
        (include, exclude)
        for include, exclude in groups
        if include and not {term.lower() for term in include} & {term.lower() for term in exclude}
    ], cut


def _anywhere(term):
    return Q(title__icontains=term) | Q(standfirst__icontains=term) | Q(body__icontains=term)


def _fallback_search(queryset, query):
    condition = Q()
    groups = parse_query(query)
    if not groups:
        return queryset.none()
    for include, exclude in groups:
        group = Q()
        for term in include:
            group &= _anywhere(term)
        for term in exclude:
            group &= ~_anywhere(term)
        condition |= group
    return queryset.filter(condition).order_by("-published_at", "-id")


def _terms_pattern(groups):
    terms = {term for include, _ in groups for term in include}
    if not terms:
        return None
    return re.compile("|".join(re.escape(term) for term in sorted(terms, key=len, reverse=True)), re.I)


def mark_terms(text, pattern):
    """``text`` escaped, with every match of ``pattern`` in <mark>."""
    return escape(text) if pattern is None else _wrap_matches(text, pattern, escape)


class SearchView(ArticleListView):
    """/search/?q=: the form, and the published stories matching q, 20 a page.

    Context: ``query`` (cleaned, as searched), ``query_truncated`` (cut to ``max_query_chars``),
    ``query_cut`` (words over ``max_words`` left out), ``search_query`` (for the header's search box)
    and ``articles``, each carrying the SafeStrings ``search_title``, ``search_standfirst`` and
    ``search_snippet``. An empty q runs no search. A search stopped by the statement timeout answers
    504 with the same page, ``took_too_long`` and no results, kept by no cache.
    """

    template_name = "articles/search.html"

    def get(self, request, *args, **kwargs):
        self.query, self.query_truncated = clean_query(request.GET.get("q", ""))
        self.query_cut = query_is_cut(self.query)
        try:
            # The page's statements all run here: the results are listed in get_context_data.
            return super().get(request, *args, **kwargs)
        except DatabaseError as exc:
            if not statement_cancelled(exc):
                raise
            logger.warning("Search for %r stopped by the statement timeout", self.query[:80])
        response = TemplateResponse(
            request, self.template_name, self.search_context(took_too_long=True), status=504
        )
        response["Cache-Control"] = "no-store"
        return response

    known_count = None

    def get_queryset(self):
        if not self.query:
            return Article.objects.none()
        articles, self.known_count = search(super().get_queryset(), self.query)
        return articles

    def get_paginator(self, *args, **kwargs):
        return super().get_paginator(*args, known_count=self.known_count, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        articles = list(context["object_list"])
        if articles:
            decorate(articles, self.query, connections[self.object_list.db].vendor)
        context["page_obj"].object_list = context["object_list"] = context["articles"] = articles
        context.update(self.search_context())
        return context

    def show_listing(self):
        # Any live story's words can make it a result: purged when they change, not only on a publish.
        cachekeys.show_listing(cachekeys.EVERY_STORY, cachekeys.SEARCH)

    def search_context(self, **extra):
        return {
            "query": self.query,
            "search_query": self.query,
            "query_truncated": self.query_truncated,
            "max_query_chars": MAX_QUERY_CHARS,
            "query_cut": self.query_cut,
            "max_words": MAX_WORDS,
            "feed_urls": None,  # search has no feed: the page links the site's own
            **extra,
        }


__all__ = [
    "SearchView",
    "clean_query",
    "decorate",
    "highlight",
    "mark_terms",
    "parse_query",
    "query_is_cut",
    "search",
]
