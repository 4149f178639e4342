"""PostgreSQL full-text search: a trigger keeps Article.search_vector current, a GIN index serves it.

Weights: title A, standfirst B, body C. A trigger (not save()) also covers bulk inserts and
queryset.update(). On other databases this migration does nothing: search falls back to LIKE.
"""

from django.db import migrations

CREATE = [
    """
CREATE FUNCTION articles_article_search_vector_update() RETURNS trigger AS $$
BEGIN
    NEW.search_vector :=
        setweight(to_tsvector('pg_catalog.english', coalesce(NEW.title, '')), 'A') ||
        setweight(to_tsvector('pg_catalog.english', coalesce(NEW.standfirst, '')), 'B') ||
        setweight(to_tsvector('pg_catalog.english', coalesce(NEW.body, '')), 'C');
    RETURN NEW;
END
$$ LANGUAGE plpgsql
""",
    """
CREATE TRIGGER articles_article_search_vector_trigger
    BEFORE INSERT OR UPDATE OF title, standfirst, body ON articles_article
    FOR EACH ROW EXECUTE FUNCTION articles_article_search_vector_update()
""",
    "CREATE INDEX articles_article_search_vector_gin ON articles_article USING gin (search_vector)",
    "UPDATE articles_article SET title = title",  # fill the vector of existing rows
]

DROP = [
    "DROP INDEX IF EXISTS articles_article_search_vector_gin",
    "DROP TRIGGER IF EXISTS articles_article_search_vector_trigger ON articles_article",
    "DROP FUNCTION IF EXISTS articles_article_search_vector_update()",
]


def run(statements):
    def operation(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement, params=None)

    return operation


class Migration(migrations.Migration):
    dependencies = [("articles", "0002_step2_fields")]

    operations = [migrations.RunPython(run(CREATE), run(DROP))]
