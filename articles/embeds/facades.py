"""The facade of an embed: HTML built here from stored, plain values (so trusted), never the provider's.

Every facade is a <figure class="embed embed--KIND"> that starts with the same two attributes, which
feeds and emails read to turn it into a plain link (``as_links``):

    data-embed-url="the URL as written"  data-embed-label="Title (Provider)"

Players (video, CodePen) add ``data-embed-src`` (the player's URL on its privacy-enhanced host), its
sandbox, allow list and title: static/js/embeds.js puts the iframe in place of the picture on a click.
Without JavaScript the facade's link opens the original. Posts (X, Bluesky, Mastodon) never load
anything of the provider's: the text, author and date we stored are the embed. A gist is shown as the
first lines of its code we stored, as text: GitHub's embed is a script that writes into our page.
"""

import re

from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import mark_safe

from articles.embeds import providers

EXTERNAL_REL = "noopener noreferrer"
# Player boxes keep one shape before and after the click: nothing moves when the iframe arrives.
FRAME_SIZES = {providers.VIDEO: (1280, 720), providers.CODE: (1200, 900)}
_ACTION_TEXT = {
    providers.VIDEO: "Watch on {provider}",
    providers.POST: "Open post on {provider}",
    providers.CODE: "Open on {provider}",
}

# A facade as stored in body_html: our own markup (bodies cannot write <figure>; the sanitizer drops it),
# one figure each, none nested.
FACADE_RE = re.compile(
    r'<figure class="embed [^"]*" data-embed-url="([^"]*)" data-embed-label="([^"]*)"[^>]*>.*?</figure>', re.S
)
# A player's origin as a facade names it: what the page's CSP frame-src must allow.
FRAME_SRC_RE = re.compile(r'<figure class="embed [^"]*"[^>]* data-embed-src="(https://[a-z0-9.-]+)/')


def facade_html(embed):
    """The trusted HTML of one Embed row (ok or failed)."""
    match = embed.match
    if match is None or not embed.is_ok:
        return link_card(embed.url, embed.provider_name)
    provider = match.provider
    opening = _opening(embed, provider)
    caption = _caption(embed, provider)
    if provider.kind == providers.POST:
        body = format_html(
            '<blockquote class="embed__post" cite="{}"><div class="embed__text">{}</div></blockquote>{}',
            embed.url,
            _lines(embed.text),
            _picture(embed, "embed__media"),
        )
    elif match.frame_url:
        picture = _picture(embed, "") or _placeholder(provider)
        body = format_html('<div class="embed__frame">{}</div>', picture)
    else:  # a gist: its code, as text, in a box that scrolls (so it takes the focus, for the keyboard)
        code = '<pre class="embed__code" tabindex="0"><code>{}</code></pre>'
        body = format_html(code, embed.text) if embed.text else ""
    return format_html("{}{}{}</figure>", opening, body, caption)


def link_card(url, provider_name):
    """What an embed degrades to: the provider's name and the URL as a link."""
    return format_html(
        '<figure class="embed embed--link" data-embed-url="{0}" data-embed-label="{1}: {0}">'
        '<figcaption class="embed__caption"><span class="embed__provider">{1}</span> '
        '<a class="embed__action" href="{0}" rel="{2}">{0}</a></figcaption></figure>',
        url,
        provider_name,
        EXTERNAL_REL,
    )


def _opening(embed, provider):
    attributes = [("data-embed-url", embed.url), ("data-embed-label", embed.label())]
    frame_url = embed.match.frame_url
    if frame_url:
        width, height = FRAME_SIZES[provider.kind]
        attributes += [
            ("data-embed-src", frame_url),
            ("data-embed-title", f"{embed.title or provider.name} ({provider.name})"),
            ("data-embed-sandbox", provider.sandbox),
            ("data-embed-allow", provider.allow),
            ("data-embed-width", width),
            ("data-embed-height", height),
            ("data-embed-action", provider.action_label),
        ]
    return format_html(
        '<figure class="embed embed--{}"{}>',
        provider.kind,
        format_html_join("", ' {}="{}"', attributes),
    )


def _caption(embed, provider):
    parts = [format_html('<span class="embed__provider">{}</span>', provider.name)]
    if embed.title:
        parts.append(format_html('<span class="embed__title">{}</span>', embed.title))
    if embed.author_name:
        author = (
            format_html('<a href="{}" rel="{}">{}</a>', embed.author_url, EXTERNAL_REL, embed.author_name)
            if embed.author_url
            else escape(embed.author_name)
        )
        parts.append(format_html('<span class="embed__byline">{}</span>', author))
    if embed.published:
        parts.append(
            format_html(
                '<time class="embed__date" datetime="{}">{} {}</time>',
                embed.published.isoformat(),
                embed.published.day,
                embed.published.strftime("%B %Y"),
            )
        )
    action = _ACTION_TEXT[provider.kind].format(provider=provider.name)
    parts.append(
        format_html(
            '<a class="embed__action" href="{}" rel="{}">{}<span class="visually-hidden">: {}</span></a>',
            embed.url,
            EXTERNAL_REL,
            action,
            embed.title or embed.author_name or embed.url,
        )
    )
    return format_html('<figcaption class="embed__caption">{}</figcaption>', mark_safe(" ".join(parts)))


def _picture(embed, wrapper_class):
    if not embed.thumbnail or not embed.width or not embed.height:
        return ""
    picture = format_html(
        '<img src="{}" width="{}" height="{}" alt="" loading="lazy" decoding="async">',
        embed.thumbnail.url,
        embed.width,
        embed.height,
    )
    return format_html('<div class="{}">{}</div>', wrapper_class, picture) if wrapper_class else picture


def _placeholder(provider):
    return format_html('<span class="embed__placeholder">{}</span>', provider.name)


def _lines(text):
    """Plain text with its line breaks, as HTML."""
    return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in text.split("\n")))


def as_links(html):
    """Body HTML with every facade replaced by a paragraph linking the original: feeds and emails,
    where no script runs and the facade's pictures and buttons would mean nothing."""
    return FACADE_RE.sub(lambda m: f'<p><a href="{m[1]}">{m[2]}</a></p>', html)


def frame_origins(html):
    """The player origins the facades of ``html`` may load, each a provider's own (sorted)."""
    return sorted({origin for origin in FRAME_SRC_RE.findall(html) if origin in providers.FRAME_ORIGINS})
