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
"""

import html
import logging
import re
import unicodedata

from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank
from django.db import DatabaseError, connections, transaction
from django.db.models import F, Func, Q, TextField, Value
from django.utils.html import escape
from django.utils.safestring import mark_safe

from articles.models import Article
from articles.views import ArticleListView, KnownCount

logger = logging.getLogger(__name__)

MAX_QUERY_CHARS = 200
MAX_TERMS = 16  # bounds the SQL (fallback) and the tsquery (PostgreSQL) built from one query
SEARCH_CONFIG = "english"  # the configuration of the trigger ('pg_catalog.english')
# ts_rank normalisation 1: divide by 1 + log(document length). Weights stay A 1.0, B 0.4, C 0.2, so
# a title match still outranks a body match.
RANK_NORMALIZATION = 1
# Relevance ranking covers this many of the newest matches; fewer matches are all ranked.
RANKED_MATCHES = 1000
SNIPPET_OPTIONS = {"max_words": 30, "min_words": 12, "max_fragments": 2, "fragment_delimiter": " … "}

MARK_START = "\x01"
MARK_STOP = "\x02"
_SENTINELS = MARK_START + MARK_STOP
_MARKED_RE = re.compile(f"{MARK_START}([^{_SENTINELS}]*){MARK_STOP}")
# A tag of sanitised HTML: quoted attribute values may contain ">".
_TAG_PATTERN = r"""<([^>"']|"[^"]*"|'[^']*')*>"""
_TOKEN_RE = re.compile(r'(-?)"([^"]*)"?|(-?)([^\s"]+)')
_WORD_CHAR_RE = re.compile(r"\w")
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
    """The articles of ``queryset`` matching ``query``, best first, each to be passed to ``decorate``."""
    if connections[queryset.db].vendor == "postgresql":
        return _postgres_search(queryset, query)
    return _fallback_search(queryset, query)


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
    MAX_TERMS, each with a letter or digit), in the same syntax. PostgreSQL's own parser accepts any
    text, but a long run of operators ("<!-------…->") overflows its tsquery stack: an error, not a
    search."""

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
            found = list(
                queryset.filter(search_vector=tsquery)
                .order_by("-published_at", "-id")
                .values_list("pk", flat=True)[: RANKED_MATCHES + 1]
            )
    except DatabaseError as exc:
        # Whatever PostgreSQL still cannot turn into a query is a search that finds nothing.
        logger.warning("Search for %r failed: %s", query[:80], exc)
        found = []
    matches = queryset.filter(pk__in=found[:RANKED_MATCHES])
    body_text = Func(
        F("body_html"),
        Value(_TAG_PATTERN),
        Value(" "),
        Value("g"),
        function="regexp_replace",
        output_field=TextField(),
    )
    ranked = (
        matches.defer("search_vector")  # as large as the body: matched and ranked in SQL, never needed here
        .annotate(
            rank=SearchRank(F("search_vector"), tsquery, normalization=RANK_NORMALIZATION),
            # ts_headline is costly: PostgreSQL evaluates these after the sort and LIMIT, for the page only.
            headline_title=_headline(F("title"), tsquery, highlight_all=True),
            headline_standfirst=_headline(F("standfirst"), tsquery, highlight_all=True),
            headline_body=_headline(body_text, tsquery, **SNIPPET_OPTIONS),
        )
        .order_by("-rank", "-published_at", "-id")
    )
    ranked.known_count = KnownCount(min(len(found), RANKED_MATCHES), more=len(found) > RANKED_MATCHES)
    return ranked


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
    """[(include, exclude), …]: the or-groups of the query, each a pair of lists of terms."""
    groups, include, exclude, count = [], [], [], 0
    for match in _TOKEN_RE.finditer(query):
        negated, phrase, word_negated, word = match.groups()
        if word is not None and word.lower() == "or" and not word_negated:
            groups.append((include, exclude))
            include, exclude = [], []
            continue
        term = (phrase if phrase is not None else word).strip()
        if not _WORD_CHAR_RE.search(term) or count >= MAX_TERMS:
            continue
        count += 1
        (exclude if negated or word_negated else include).append(term)
    groups.append((include, exclude))
    return [(include, exclude) for include, exclude in groups if include]


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

    Context: ``query`` (cleaned, as searched), ``query_truncated``, ``max_query_chars``,
    ``search_query`` (for the header's search box) and ``articles``, each carrying the SafeStrings
    ``search_title``, ``search_standfirst`` and ``search_snippet``. An empty q runs no search.
    """

    template_name = "articles/search.html"

    def get(self, request, *args, **kwargs):
        self.query, self.query_truncated = clean_query(request.GET.get("q", ""))
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if not self.query:
            return Article.objects.none()
        return search(super().get_queryset(), self.query)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        articles = list(context["object_list"])
        if articles:
            decorate(articles, self.query, connections[self.object_list.db].vendor)
        context["page_obj"].object_list = context["object_list"] = context["articles"] = articles
        context.update(
            query=self.query,
            search_query=self.query,
            query_truncated=self.query_truncated,
            max_query_chars=MAX_QUERY_CHARS,
            feed_urls=None,  # search has no feed: the page links the site's own
        )
        return context


__all__ = ["SearchView", "clean_query", "decorate", "highlight", "mark_terms", "parse_query", "search"]
