"""Signed, expiring links that show a draft or scheduled article to someone without an account."""

import datetime

from django.core import signing

from articles.links import absolute

PREVIEW_LINK_LIFETIME = datetime.timedelta(days=3)
_SALT = "articles.preview"


def make_token(article):
    # Bound to the article's id and slug: renaming the slug retires the links sent for the old one.
    return signing.dumps([article.pk, article.slug], salt=_SALT, compress=True)


def preview_url(article):
    return absolute(f"{article.get_absolute_url()}?preview={make_token(article)}")


def article_id_for(token, slug):
    """The article id a token was issued for, or None if it is forged or for another article.

    Raises signing.SignatureExpired for a genuine link past its lifetime, so the page can say so.
    """
    try:
        article_id, token_slug = signing.loads(token, salt=_SALT, max_age=PREVIEW_LINK_LIFETIME)
    except signing.SignatureExpired:
        raise
    except (signing.BadSignature, ValueError, TypeError):
        return None
    return article_id if token_slug == slug else None
