"""Autocomplete widgets for the admin that leave forged ids out instead of failing on them."""

from django.contrib.admin.widgets import AutocompleteSelect, AutocompleteSelectMultiple
from django.core.exceptions import ValidationError


class KnownIdsOnly:
    """For the admin's autocomplete widgets: submitted values that cannot be ids are left out when the
    form is shown again. Django looks them up as they are, and a forged one ("abc") raised ValueError,
    a 500, instead of letting the form say "Select a valid choice"."""

    def optgroups(self, name, value, attr=None):
        target = self.field.target_field
        return super().optgroups(name, [v for v in value if _is_valid_for(target, v)], attr)


def _is_valid_for(field, value):
    try:
        field.to_python(value)
    except ValidationError:
        return False
    return True


class CheckedAutocompleteSelect(KnownIdsOnly, AutocompleteSelect):
    pass


class CheckedAutocompleteSelectMultiple(KnownIdsOnly, AutocompleteSelectMultiple):
    pass


class CheckedAutocompleteMixin:
    """ModelAdmin and inline mixin: autocomplete_fields get the widgets above."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in self.get_autocomplete_fields(request):
            kwargs.setdefault(
                "widget", CheckedAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name in self.get_autocomplete_fields(request):
            kwargs.setdefault(
                "widget",
                CheckedAutocompleteSelectMultiple(db_field, self.admin_site, using=kwargs.get("using")),
            )
        return super().formfield_for_manytomany(db_field, request, **kwargs)
