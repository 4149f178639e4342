import pytest

from articles import images
from articles.models import Article
from tests.factories import ArticleFactory, AuthorFactory, SectionFactory, TagFactory, jpeg_upload

SEED_SLUG = "openai-foxconn-collaboration-ai-supply-chain-us-data-center-components"


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with an empty cache, as the Redis run shares one server between tests."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def editor(django_user_model):
    return django_user_model.objects.create_user(
        "editor", "editor@example.com", "correct horse battery", is_staff=True, is_superuser=True
    )


@pytest.fixture
def editor_client(client, editor):
    client.force_login(editor)
    return client


@pytest.fixture
def article_with_image(db):
    article = ArticleFactory(hero_alt="A blue test card")
    article.hero_image = images.prepare_upload(jpeg_upload()).content
    article.save()
    return Article.objects.get(pk=article.pk)


__all__ = ["ArticleFactory", "AuthorFactory", "SectionFactory", "TagFactory", "SEED_SLUG"]
