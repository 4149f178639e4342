from django.core.management.base import BaseCommand

from articles.embeds.models import Embed


class Command(BaseCommand):
    help = (
        "Fetch the embeds whose metadata could not be had (shown as plain links) again, or with --all "
        "every embed, and render the stories showing each one that changed again. A good fetch is "
        "kept when a provider fails this time. Safe to run again, e.g. hourly."
    )

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="Refresh every embed, not just failed ones.")

    def handle(self, *args, **options):
        embeds = Embed.objects.all() if options["all"] else Embed.objects.filter(status=Embed.Status.FAILED)
        counts = {"ok": 0, "failed": 0}
        # Outside any transaction: each fetch may take seconds.
        for embed in embeds.order_by("pk").iterator(chunk_size=100):
            embed.refresh_everywhere()
            counts[embed.status] += 1
            self.stdout.write(f"{embed.status:6} {embed.url}{f'  ({embed.error})' if embed.error else ''}")
        self.stdout.write(
            self.style.SUCCESS(f"{counts['ok']} embed(s) fetched, {counts['failed']} still shown as links.")
        )
