vcl 4.1;
#
# Varnish 7 in front of Conclave TechMedia, with xkey (varnish-modules) for surrogate-key purges.
# tests/test_varnish.py runs this file, as it is but for the backend's port, in front of a live app.
#
#   varnishd -a :6081 -f /etc/varnish/default.vcl -s malloc,256m
#
# Backend: the app at 127.0.0.1:8000 (`make serve`); change .host and .port below for yours. Purges
# are taken from this machine alone: add the app servers' addresses to `acl purgers` below.
#
# What is kept: GET and HEAD answers the app marks shareable (Cache-Control with s-maxage or
# max-age, and none of private, no-cache, no-store), with no Set-Cookie, for s-maxage; then served
# stale for stale-while-revalidate while fetched again in the background. Each is kept per address
# (URL and Host, tracking parameters dropped) and scheme (X-Forwarded-Proto), as the app's own page
# cache keeps it. Staff (the `sessionid` cookie: Django's SESSION_COOKIE_NAME, change it in
# vcl_recv if you change that) and requests with an Authorization header always reach the app, and
# so does every method but GET and HEAD, cookies and all (the follow forms post a CSRF cookie).
#
# Purge protocol (what the app's Varnish purge client speaks), plain HTTP to this Varnish:
#
#   PURGE / HTTP/1.1                       every object tagged with any of these keys (the names
#   xkey-purge: story-12 section-3         the app sent in Surrogate-Key, space-separated); the
#                                          path and Host do not matter
#
#   PURGE /news/some-slug/?page=2 HTTP/1.1 every kept copy of that one address (both schemes,
#   Host: news.example.com                 gzipped or not); the Host is the page's, as readers
#                                          send it
#
#   -> 200 with "X-Purged: <n>", the number of objects removed (0 is no error), and "<n> purged".
#   -> 405 for a PURGE from an address outside `purgers`.
#
# Purges are hard: the objects are gone, not kept for grace, so the next request waits for the app
# and gets the page as it is now. A fetch already under way when the purge arrives (one that began
# before the change was committed) can still store the old page: a purge client that must be sure
# purges again a second or two later.
#
# `purgers` judges the address that connected to Varnish. Behind a TLS proxy on the same machine
# that forwards plain HTTP, that is 127.0.0.1 for every reader: anyone could purge through it, and
# the last X-Forwarded-For entry (the reader's address for the app, with DJANGO_BEHIND_TLS_PROXY)
# would be 127.0.0.1 too. Have that proxy speak the PROXY protocol (hitch `write-proxy-v2 = on`,
# HAProxy `send-proxy-v2`) to a listener that expects it (`-a 127.0.0.1:6086,PROXY`): Varnish then
# sees each reader's own address, for both.
#
# Readers get X-Varnish-Cache: HIT (kept here), STALE (kept here, past its time, being fetched
# again), MISS (fetched, now kept) or PASS (fetched, not kept); the app's own X-Cache says what its
# page cache did. Surrogate-Key, Cache-Tag and xkey never reach them.

import xkey;
import purge;

backend default {
    .host = "127.0.0.1";
    .port = "8000";
}

acl purgers {
    "127.0.0.1";
    "::1";
}

sub vcl_recv {
    unset req.http.X-Purged;
    # Varnish's own: the Host in lower case, and a 400 for HTTP/1.1 without one.
    call vcl_req_host;
    # Tracking parameters: the app drops them before any page is made (conclave/pagecache.py), so
    # they would only make more copies of the same page, and copies a URL purge would miss.
    if (req.url ~ "\?(.*&)?(?i:utm_[^=&]*|fbclid|gclid)(=|&|$)") {
        set req.http.X-Conclave-Query = regsuball(
            regsub(req.url, "^[^?]*\?", "&"), "&(?i:utm_[^=&]*|fbclid|gclid)(?==|&|$)[^&]*", "");
        set req.url = regsub(req.url, "\?.*$", "") + regsub(req.http.X-Conclave-Query, "^&", "?");
        unset req.http.X-Conclave-Query;
    }

    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(405, "Method Not Allowed"));
        }
        if (req.http.xkey-purge) {
            set req.http.X-Purged = xkey.purge(req.http.xkey-purge);
            return (synth(200, "Purged"));
        }
        # By address: the lookup leads to vcl_hit or vcl_miss, which purge every variant.
        return (hash);
    }
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    # Staff see drafts and previews: their pages are theirs (the app sends them private anyway).
    if (req.http.Authorization || req.http.Cookie ~ "(^|;)\s*sessionid=") {
        return (pass);
    }
    # Other cookies (an anonymous reader's csrftoken, analytics) do not make pages personal: the
    # lookup ignores them, as the app's page cache does. They still reach the app on a miss, which
    # marks anything it made from them uncacheable (Set-Cookie, private); a form page that reuses
    # the reader's CSRF cookie keeps working in two tabs at once.
    call conclave_scheme;
    # Accept-Encoding: Varnish reduces it to "gzip" or nothing itself (http_gzip_support, on by
    # default), asks the app for gzip and unzips for readers who do not take it: one copy serves both.
    return (hash);
}

# The scheme the reader used, as Django reads it behind a TLS proxy (the first X-Forwarded-Proto
# entry): part of the key (vcl_backend_response adds it to Vary), so a plain-HTTP request still
# reaches the app's redirect to HTTPS rather than a page kept for HTTPS.
sub conclave_scheme {
    if (req.http.X-Forwarded-Proto ~ "^\s*https\s*(,|$)") {
        set req.http.X-Forwarded-Proto = "https";
    } else {
        set req.http.X-Forwarded-Proto = "http";
    }
}

sub vcl_hash {
    hash_data(req.url);
    if (req.http.host) {
        hash_data(req.http.host);
    } else {
        hash_data(server.ip);
    }
    return (lookup);
}

sub conclave_purge_address {
    set req.http.X-Purged = purge.hard();
    return (synth(200, "Purged"));
}

sub vcl_hit {
    if (req.method == "PURGE") {
        call conclave_purge_address;
    }
}

sub vcl_miss {
    if (req.method == "PURGE") {
        call conclave_purge_address;
    }
}

sub vcl_backend_response {
    if (bereq.uncacheable) {
        return (deliver);  # a pass: nothing is kept
    }
    # Only what the app explicitly lets shared caches keep: never a guessed lifetime (Varnish's
    # default_ttl would keep a redirect or a 404 that says nothing).
    if (beresp.http.Set-Cookie
        || beresp.http.Cache-Control ~ "(?i)(^|[\s,])(private|no-cache|no-store)\s*(=|,|$)"
        || beresp.http.Cache-Control !~ "(?i)(^|[\s,])(s-maxage|max-age)\s*="
        || beresp.http.Vary == "*"
        || beresp.ttl <= 0s) {
        # Hit-for-miss: the next requests for it go to the app without waiting on each other, and
        # the first shareable answer among them is kept.
        set beresp.ttl = 120s;
        set beresp.uncacheable = true;
        return (deliver);
    }
    # xkey indexes the object under each key of its xkey header.
    if (beresp.http.Surrogate-Key) {
        set beresp.http.xkey = beresp.http.Surrogate-Key;
    } else {
        unset beresp.http.xkey;
    }
    if (beresp.http.Vary) {
        set beresp.http.Vary = beresp.http.Vary + ", X-Forwarded-Proto";
    } else {
        set beresp.http.Vary = "X-Forwarded-Proto";
    }
    return (deliver);
}

sub vcl_deliver {
    unset resp.http.Surrogate-Key;
    unset resp.http.Cache-Tag;
    unset resp.http.xkey;
    # The app's Vary, as it sent it.
    if (resp.http.Vary == "X-Forwarded-Proto") {
        unset resp.http.Vary;
    } else if (resp.http.Vary) {
        set resp.http.Vary = regsub(resp.http.Vary, ", X-Forwarded-Proto$", "");
    }
    if (obj.uncacheable) {
        set resp.http.X-Varnish-Cache = "PASS";
    } else if (obj.hits == 0) {
        set resp.http.X-Varnish-Cache = "MISS";
    } else if (obj.ttl > 0s) {
        set resp.http.X-Varnish-Cache = "HIT";
    } else {
        set resp.http.X-Varnish-Cache = "STALE";
    }
}

sub vcl_synth {
    if (req.method == "PURGE") {
        set resp.http.Content-Type = "text/plain; charset=utf-8";
        if (resp.status == 200) {
            set resp.http.X-Purged = req.http.X-Purged;
            set resp.body = req.http.X-Purged + " purged" + {"
"};
        } else {
            set resp.body = resp.reason + {"
"};
        }
        return (deliver);
    }
}
