"""The forms of the follow pages: the follow box, the confirmation page, the settings page."""

from django import forms
from django.core.exceptions import ValidationError

from articles.following.addresses import is_mailable, normalise_email
from articles.models import Follow, Subscriber, Tag

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
    frequency = frequency_field(required=True)
    unfollow = forms.ModelMultipleChoiceField(
        queryset=Tag.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    add = forms.ModelChoiceField(queryset=Tag.objects.none(), to_field_name="slug", required=False)

    def __init__(self, *args, subscriber, **kwargs):
        super().__init__(*args, **kwargs)
        # Only a topic readers can see: a tag typed into a draft is nobody's to follow yet (and public()
        # reads the clock, so it is asked here, per form, not once at import).
        self.fields["add"].queryset = Tag.objects.public()
        self.fields["unfollow"].queryset = Tag.objects.filter(follows__subscriber=subscriber).order_by("name")
