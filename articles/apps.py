from django.apps import AppConfig


class ArticlesConfig(AppConfig):
    name = "articles"
    verbose_name = "News"

    def ready(self):
        from articles import signals

        signals.connect()
