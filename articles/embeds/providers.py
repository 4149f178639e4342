"""Which URLs become embeds, and where their metadata and players live.

A URL becomes an embed only when it matches one provider's shape exactly: the scheme is https, the host
is one of the provider's (a Mastodon instance is any DNS name, recognised by the /@user/123 path),
nothing but the parts we read is taken from it, and everything we later request is built from those
parts alone: never the pasted URL itself, so a URL cannot steer the server anywhere else.
"""

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlencode, urlsplit

MAX_URL_LENGTH = 2000

VIDEO, POST, CODE = "video", "post", "code"

_YOUTUBE_ID = r"(?P<id>[A-Za-z0-9_-]{11})"
# A DNS name of letters, digits and hyphens (no IP literal, no port, no user): a Mastodon instance.
_DNS_NAME_RE = re.compile(r"(?=.{4,253}\Z)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\Z")


@dataclass(frozen=True)
class Provider:
    key: str
    name: str
    kind: str
    hosts: frozenset  # exact host names; empty: any DNS name (Mastodon)
    paths: tuple  # regexes, each fullmatched against the path
    # The iframe's origin and its attributes, for the providers whose player we load on a click.
    frame_origin: str = ""
    sandbox: str = ""
    allow: str = ""
    # Where a thumbnail may be downloaded from: exact hosts (the instance's own for Mastodon).
    thumbnail_hosts: frozenset = frozenset()

    @property
    def action_label(self):
        return {VIDEO: "Load video", CODE: "Load pen", POST: "Open post"}[self.kind]


@dataclass(frozen=True)
class Match:
    provider: Provider
    url: str  # as written in the body
    host: str
    id: str
    user: str = ""

    # Each provider's metadata endpoint, built from the parts we matched; the fetcher allows these hosts.

    @property
    def metadata_url(self):
        key, canonical = self.provider.key, self.canonical_url
        if key == "youtube":
            return "https://www.youtube.com/oembed?" + urlencode({"url": canonical, "format": "json"})
        if key == "vimeo":
            return "https://vimeo.com/api/oembed.json?" + urlencode({"url": canonical, "dnt": "1"})
        if key == "x":
            # omit_script: the answer's HTML is read for its text only; we never store or show it.
            return "https://publish.twitter.com/oembed?" + urlencode({"url": canonical, "omit_script": "1"})
        if key == "bluesky":
            uri = f"at://{self.user}/app.bsky.feed.post/{self.id}"
            return "https://public.api.bsky.app/xrpc/app.bsky.feed.getPosts?" + urlencode({"uris": uri})
        if key == "mastodon":
            return f"https://{self.host}/api/v1/statuses/{self.id}"
        if key == "gist":
            return f"https://api.github.com/gists/{self.id}"
        if key == "codepen":
            return "https://codepen.io/api/oembed?" + urlencode({"url": canonical, "format": "json"})
        raise ValueError(key)

    @property
    def metadata_hosts(self):
        """The hosts the metadata request may reach, redirects included."""
        return frozenset({urlsplit(self.metadata_url).hostname}) | _METADATA_REDIRECT_HOSTS.get(
            self.provider.key, frozenset()
        )

    @property
    def canonical_url(self):
        key, user, id_ = self.provider.key, quote(self.user, safe="@."), self.id
        return {
            "youtube": f"https://www.youtube.com/watch?v={id_}",
            "vimeo": f"https://vimeo.com/{id_}",
            "x": f"https://x.com/{user}/status/{id_}",
            "bluesky": f"https://bsky.app/profile/{user}/post/{id_}",
            "mastodon": f"https://{self.host}/@{user}/{id_}",
            "gist": f"https://gist.github.com/{user + '/' if user else ''}{id_}",
            "codepen": f"https://codepen.io/{user}/pen/{id_}",
        }[key]

    @property
    def frame_url(self):
        """The player's address, privacy-enhanced where the provider has one; "" for posts and gists."""
        key, id_ = self.provider.key, self.id
        if key == "youtube":
            return f"https://www.youtube-nocookie.com/embed/{id_}"
        if key == "vimeo":
            return f"https://player.vimeo.com/video/{id_}?dnt=1"
        if key == "codepen":
            return f"https://codepen.io/{quote(self.user)}/embed/{id_}?default-tab=result"
        return ""

    def thumbnail_allowed(self, host):
        if self.provider.key == "mastodon":
            # An instance serves its media itself or from a subdomain (files.mastodon.social).
            return host == self.host or host.endswith("." + self.host)
        return host in self.provider.thumbnail_hosts


# autoplay: the player starts on the click that loads it, not on a second click inside it.
VIDEO_ALLOW = "autoplay; fullscreen; picture-in-picture; encrypted-media"

PROVIDERS = (
    Provider(
        "youtube",
        "YouTube",
        VIDEO,
        frozenset({"www.youtube.com", "youtube.com", "m.youtube.com", "youtu.be"}),
        (r"/watch", rf"/(?:shorts|embed|live)/{_YOUTUBE_ID}", rf"/{_YOUTUBE_ID}"),
        frame_origin="https://www.youtube-nocookie.com",
        # Scripts to play, same-origin for its own storage, popups for "watch on YouTube", presentation
        # for casting. No forms, no top navigation.
        sandbox="allow-scripts allow-same-origin allow-popups allow-presentation",
        allow=VIDEO_ALLOW,
        thumbnail_hosts=frozenset({"i.ytimg.com", "img.youtube.com"}),
    ),
    Provider(
        "vimeo",
        "Vimeo",
        VIDEO,
        frozenset({"vimeo.com", "www.vimeo.com", "player.vimeo.com"}),
        (r"/(?P<id>\d{1,12})", r"/video/(?P<id>\d{1,12})"),
        frame_origin="https://player.vimeo.com",
        sandbox="allow-scripts allow-same-origin allow-popups allow-presentation",
        allow=VIDEO_ALLOW,
        thumbnail_hosts=frozenset({"i.vimeocdn.com"}),
    ),
    Provider(
        "x",
        "X",
        POST,
        frozenset({"x.com", "www.x.com", "twitter.com", "www.twitter.com", "mobile.twitter.com"}),
        (r"/(?P<user>[A-Za-z0-9_]{1,15})/status(?:es)?/(?P<id>\d{1,20})",),
    ),
    Provider(
        "bluesky",
        "Bluesky",
        POST,
        frozenset({"bsky.app"}),
        (r"/profile/(?P<user>[A-Za-z0-9.:-]{1,253})/post/(?P<id>[a-z2-7]{13})",),
        thumbnail_hosts=frozenset({"cdn.bsky.app"}),
    ),
    Provider(
        "mastodon",
        "Mastodon",
        POST,
        frozenset(),
        (r"/@(?P<user>[A-Za-z0-9_]{1,30})/(?P<id>\d{1,20})",),
    ),
    Provider(
        "gist",
        "GitHub Gist",
        CODE,
        frozenset({"gist.github.com"}),
        (r"/(?:(?P<user>[A-Za-z0-9-]{1,39})/)?(?P<id>[0-9a-f]{20}|[0-9a-f]{32})",),
    ),
    Provider(
        "codepen",
        "CodePen",
        CODE,
        frozenset({"codepen.io"}),
        (r"/(?P<user>[A-Za-z0-9_-]{1,40})/(?:pen|embed)/(?P<id>[A-Za-z0-9]{3,12})",),
        frame_origin="https://codepen.io",
        # A pen is someone's script: it runs sandboxed in CodePen's origin, may open links in a new
        # tab, and nothing else (no forms, no top navigation, no presentation).
        sandbox="allow-scripts allow-same-origin allow-popups",
        allow="fullscreen",
        thumbnail_hosts=frozenset({"shots.codepen.io", "assets.codepen.io"}),
    ),
)
BY_KEY = {provider.key: provider for provider in PROVIDERS}
# Every host a named provider owns: a URL on one of them is that provider's or nothing (never Mastodon).
_NAMED_HOSTS = frozenset().union(*(provider.hosts for provider in PROVIDERS))
# Hosts a metadata answer may redirect to (the same service under another name).
_METADATA_REDIRECT_HOSTS = {"x": frozenset({"publish.x.com"})}
FRAME_ORIGINS = frozenset(provider.frame_origin for provider in PROVIDERS if provider.frame_origin)
VIDEO_FRAME_ORIGINS = tuple(sorted(p.frame_origin for p in PROVIDERS if p.kind == VIDEO and p.frame_origin))


def match(url):
    """The provider Match of a URL written alone on its line, or None."""
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH or not url.isascii():
        return None
    if any(char.isspace() or ord(char) < 0x21 or char in "\\<>\"'`" for char in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme != "https" or parts.username is not None or parts.password is not None or port:
        return None
    if parts.netloc.lower() != (parts.hostname or ""):  # "host:" or other oddities
        return None
    host = parts.hostname or ""
    path = parts.path.rstrip("/") or "/"
    if host in _NAMED_HOSTS:
        candidates = [provider for provider in PROVIDERS if host in provider.hosts]
    elif _DNS_NAME_RE.match(host):
        candidates = [BY_KEY["mastodon"]]
    else:
        return None
    for provider in candidates:
        for pattern in provider.paths:
            found = re.fullmatch(pattern, path)
            if not found:
                continue
            groups = found.groupdict()
            id_, user = groups.get("id"), groups.get("user") or ""
            if provider.key == "youtube" and path == "/watch":
                ids = parse_qs(parts.query).get("v", [])
                id_ = ids[0] if len(ids) == 1 and re.fullmatch(_YOUTUBE_ID, ids[0]) else None
            elif provider.key == "youtube" and host != "youtu.be" and pattern == rf"/{_YOUTUBE_ID}":
                id_ = None  # youtube.com/ABCDEFGHIJK is a channel or page, not a video
            if id_:
                return Match(provider, url, host, id_, user)
    return None
