from django.core.management.base import BaseCommand, CommandError

from articles.importing import ImportFailure, import_file


class Command(BaseCommand):
    help = "Import Markdown stories with front matter; creates or updates by slug."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH", help="Markdown files to import")

    def handle(self, *args, paths, **options):
        failures = 0
        for path in paths:
            try:
                _, outcome = import_file(path)
            except ImportFailure as exc:
                failures += 1
                self.stderr.write(self.style.ERROR(f"{path}:{exc.line}: error: {exc}"))
            except OSError as exc:
                failures += 1
                self.stderr.write(self.style.ERROR(f"{path}: error: cannot read the file ({exc.strerror})"))
            else:
                self.stdout.write(f"{path}: {outcome}")
        if failures:
            raise CommandError(f"{failures} of {len(paths)} file(s) could not be imported.")
