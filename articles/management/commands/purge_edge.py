"""manage.py purge_edge: try again the edge purges kept after a failure (articles/edge.py). Run it from
cron every minute beside send_notifications; it does nothing when no edge is configured."""

from django.core.management.base import BaseCommand, CommandError

from articles import edge


class Command(BaseCommand):
    help = "Try again the edge purges that failed (due ones; --all for every kept one)."

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="Try every kept purge now, due or not.")

    def handle(self, *args, **options):
        if not edge.edge_configured():
            self.stdout.write("No edge cache is configured (EDGE_PURGE_URL): nothing to purge.")
            return
        landed, kept = edge.retry_kept(due_only=not options["all"])
        self.stdout.write(f"{landed} purge(s) landed; {kept} kept.")
        if kept and not landed and options["all"]:
            raise CommandError("The edge confirmed none of the kept purges: see the admin's Edge purges.")
