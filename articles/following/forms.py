"""The forms of the follow pages: the follow box, the confirmation page, the settings page."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.choices import CallableChoiceIterator

from articles.following import targets
from articles.following.addresses import is_mailable, normalise_email
from articles.following.targets import Followable
from articles.models import FOLLOW_KINDS, Follow

FREQUENCY_CHOICES = [
    (Follow.Frequency.IMMEDIATE, "Immediately"),
    (Follow.Frequency.DAILY, "Daily digest"),
    (Follow.Frequency.WEEKLY, "Weekly digest"),
]


def frequency_field(required):
    return forms.ChoiceField(
        label="How often?", choices=FREQUENCY_CHOICES, widget=forms.RadioSelect, required=required
    )


class FollowForm(forms.Form):
    email = forms.EmailField(
        label="Email address", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    frequency = frequency_field(required=False)

    def clean_email(self):
        email = normalise_email(self.cleaned_data["email"])
        if not is_mailable(email):
            raise ValidationError(
                "Enter a valid email address: mail cannot be sent to this one as it is written (it holds "
                "control or invisible characters, or a domain name mail cannot carry).",
                code="unmailable",
            )
        return email

    def clean_frequency(self):
        return self.cleaned_data["frequency"] or Follow.Frequency.IMMEDIATE


class ConfirmForm(forms.Form):
    frequency = frequency_field(required=True)


class ManageForm(forms.Form):
    """The settings page: how often each follow is emailed, follows to stop, and one more to add.

    Each follow has a frequency field of its own, ``frequency-<follow id>``; one missing from a POST (a
    follow added in another tab after this page was drawn) keeps its frequency.
    """

    unfollow = forms.MultipleChoiceField(
        label="Stop following", required=False, widget=forms.CheckboxSelectMultiple
    )
    add = forms.CharField(label="Topic, author or section", required=False, widget=forms.Select)
    add_frequency = frequency_field(required=False)

    def __init__(self, *args, subscriber, offer=None, **kwargs):
        super().__init__(*args, **kwargs)
        follows = subscriber.follows.select_related(*FOLLOW_KINDS).defer(*targets.STORY_TEXT)
        order = list(targets.GROUPS)
        self.rows = sorted(
            ((follow, Followable(follow.target)) for follow in follows),
            key=lambda row: (order.index(row[1].kind), row[1].name.lower(), row[0].pk),
        )
        for follow, target in self.rows:
            field = frequency_field(required=False)
            field.label = f"How often for {target.name}?"
            field.initial = follow.frequency
            self.fields[f"frequency-{follow.pk}"] = field
        self.fields["unfollow"].choices = [(str(follow.pk), target.name) for follow, target in self.rows]
        self.offer = offer  # what a settings link asks to add, preselected
        if offer is not None and offer.kind == "article":
            self.fields["add"].label = "Topic, author, section or story"
        self.followed = {target for _, target in self.rows}
        # Read only when the page is drawn: a POST that saves never lists every topic.
        self.fields["add"].widget.choices = CallableChoiceIterator(self.add_choices)
        self.fields["add_frequency"].initial = Follow.Frequency.IMMEDIATE

    def add_choices(self):
        """What may be added, grouped by kind, less what is followed already; the offered target too."""
        groups = {}
        for kind in ("tag", "author", "section"):
            found = (Followable(obj) for obj in targets.public(kind).order_by("name"))
            groups[kind] = [target for target in found if target not in self.followed]
        if self.offer is not None and self.offer not in groups.get(self.offer.kind, ()):
            groups.setdefault(self.offer.kind, []).insert(0, self.offer)
        choices = [("", "Choose one…")]
        for kind, found in groups.items():
            if found:
                choices.append((targets.GROUPS[kind], [(target.value, target.name) for target in found]))
        return choices

    def groups(self):
        """(heading, rows) for each kind followed, in GROUPS order; a row is (target, frequency field,
        its stop-following checkbox)."""
        boxes = {box.data["value"]: box for box in self["unfollow"]}
        grouped = {}
        for follow, target in self.rows:
            row = (target, self[f"frequency-{follow.pk}"], boxes[str(follow.pk)])
            grouped.setdefault(target.group, []).append(row)
        return list(grouped.items())

    def frequency_changes(self):
        """{follow id: new frequency} for the follows kept whose frequency this POST changes."""
        stopped = set(self.cleaned_data["unfollow"])
        changes = {}
        for follow, _ in self.rows:
            chosen = self.cleaned_data.get(f"frequency-{follow.pk}")
            if chosen and chosen != follow.frequency and str(follow.pk) not in stopped:
                changes[follow.pk] = chosen
        return changes

    def clean_add(self):
        value = self.cleaned_data["add"]
        if not value:
            return None
        target = targets.parse(value)
        if target is None:
            raise ValidationError("Choose something to follow from the list.", code="unknown")
        return Followable(target)

    def clean_add_frequency(self):
        return self.cleaned_data["add_frequency"] or Follow.Frequency.IMMEDIATE
