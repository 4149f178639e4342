from django.apps import AppConfig


class ArticlesConfig(AppConfig):
    name = "articles"
    verbose_name = "News"

    def ready(self):
        from articles import signals
        from articles.embeds import checks as embed_checks  # noqa: F401 -- registers its check
        from articles.following import bounces  # noqa: F401 -- receives the email service's events
        from conclave import (
            checks,  # noqa: F401 -- registers the deployment's start-up checks
            pagecache,
        )

        signals.connect()
        pagecache.read_schedule_with(self.get_model("Article").objects.timeline)
