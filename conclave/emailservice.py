"""Email through a service's API (django-anymail), chosen by EMAIL_SERVICE; SMTP or the console
(EMAIL_URL) otherwise. A module of its own so that settings.py stays a list of settings.

Each service has its own names for the same few things; the environment has one name for each:

* EMAIL_SERVICE_API_KEY: Mailgun's API key, Postmark's server token, SendGrid's, Brevo's or Resend's
  API key (Amazon SES takes the usual AWS_* variables, or the machine's role, through boto3).
* EMAIL_SERVICE_API_URL: another endpoint (Mailgun's EU region; a local fake service in the tests).
* EMAIL_WEBHOOK_SECRET: "user:password" for the HTTP basic auth of the bounce webhook, which every
  service supports in the URL it is given; without it the webhook is not served at all, since a forged
  bounce would stop someone's email.
* EMAIL_WEBHOOK_SIGNING_KEY: the signature key, for the services that sign webhooks too (Mailgun's
  webhook signing key, SendGrid's verification key, Resend's signing secret): required for them.
"""

from django.core.exceptions import ImproperlyConfigured

# SendGrid has no merge field syntax of its own: anymail sends whatever marks we choose as substitutions.
SENDGRID_MERGE_FIELD_FORMAT = "-{}-"

# service: (anymail's name of the API key setting, of the API URL setting, of the webhook signing key)
SERVICES = {
    "mailgun": ("API_KEY", "API_URL", "WEBHOOK_SIGNING_KEY"),
    "postmark": ("SERVER_TOKEN", "API_URL", None),
    "amazon_ses": (None, None, None),
    "sendgrid": ("API_KEY", "API_URL", "TRACKING_WEBHOOK_VERIFICATION_KEY"),
    "brevo": ("API_KEY", "API_URL", None),
    "resend": ("API_KEY", "API_URL", "SIGNING_SECRET"),
}

TRACKING_VIEWS = {
    "mailgun": "anymail.webhooks.mailgun.MailgunTrackingWebhookView",
    "postmark": "anymail.webhooks.postmark.PostmarkTrackingWebhookView",
    "amazon_ses": "anymail.webhooks.amazon_ses.AmazonSESTrackingWebhookView",
    "sendgrid": "anymail.webhooks.sendgrid.SendGridTrackingWebhookView",
    "brevo": "anymail.webhooks.brevo.BrevoTrackingWebhookView",
    "resend": "anymail.webhooks.resend.ResendTrackingWebhookView",
}


def configure(service, api_key="", api_url="", webhook_secret="", signing_key=""):
    """The settings for `service`: {"EMAIL_BACKEND": …, "ANYMAIL": {…}}. Refuses a name it does not
    know, and a missing key, with the variable to set."""
    if service not in SERVICES:
        raise ImproperlyConfigured(
            f"EMAIL_SERVICE={service!r} is not one of {', '.join(sorted(SERVICES))} (leave it unset for "
            "SMTP or the console, set by EMAIL_URL)."
        )
    key_name, url_name, signing_name = SERVICES[service]
    prefix = service.upper()
    anymail = {}
    if key_name:
        if not api_key:
            raise ImproperlyConfigured(f"EMAIL_SERVICE={service} needs EMAIL_SERVICE_API_KEY.")
        anymail[f"{prefix}_{key_name}"] = api_key
    if api_url and url_name:
        anymail[f"{prefix}_{url_name}"] = api_url
    elif api_url:  # Amazon SES: boto3's endpoint
        anymail["AMAZON_SES_CLIENT_PARAMS"] = {"endpoint_url": api_url}
    if service == "sendgrid":
        anymail["SENDGRID_MERGE_FIELD_FORMAT"] = SENDGRID_MERGE_FIELD_FORMAT
    if webhook_secret:
        if ":" not in webhook_secret:
            raise ImproperlyConfigured('EMAIL_WEBHOOK_SECRET is "user:password" (HTTP basic auth).')
        anymail["WEBHOOK_SECRET"] = webhook_secret
        if signing_name and not signing_key:
            raise ImproperlyConfigured(
                f"{service}'s webhooks are signed: set EMAIL_WEBHOOK_SIGNING_KEY as well as "
                "EMAIL_WEBHOOK_SECRET."
            )
    if signing_name and signing_key:
        anymail[f"{prefix}_{signing_name}"] = signing_key
    return {"EMAIL_BACKEND": f"anymail.backends.{service}.EmailBackend", "ANYMAIL": anymail}
