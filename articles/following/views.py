"""The subscriber-facing pages: the follow forms' answers, confirmation, settings, unsubscribe."""

import logging

from django.conf import settings
from django.db import transaction
from django.http import Http404, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.cache import patch_vary_headers
from django.utils.decorators import method_decorator
from django.utils.module_loading import import_string
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from articles.following import limits, targets
from articles.following.addresses import address_hash, mask_email
from articles.following.deferred import AnswerThen
from articles.following.forms import ConfirmForm, FollowForm, ManageForm
from articles.following.subscriptions import confirm, data_about, erase, leave, request_follow
from articles.following.targets import Followable
from articles.following.tokens import CONFIRM_DAYS, find_request, follow_url, is_genuine, read_token
from articles.models import FOLLOW_KINDS, Follow, Subscriber
from articles.tag_governance import moved_permanently, resolve_tag_slug
from conclave.emailservice import TRACKING_VIEWS
from conclave.middleware import client_ip

logger = logging.getLogger(__name__)


class _CsrfCheck(CsrfViewMiddleware):
    """The middleware's own check, answering with the reason for refusal instead of a 403 page."""

    def _reject(self, request, reason):
        return reason


def csrf_refusal(request):
    """None when this POST carries a valid CSRF token (Origin, Referer and token), else the reason."""
    check = _CsrfCheck(lambda request: None)
    check.process_request(request)
    return check.process_view(request, None, (), {})


@method_decorator([csrf_exempt, never_cache], name="dispatch")
class FollowView(View):
    """POST /tags/<slug>/follow/, /authors/…, /sections/…, /news/<slug>/follow/ (``kind`` says which).
    CSRF-exempt for the middleware only: the view checks the token.

    Only what has a public page can be followed: a public tag, an author, a section, a published story;
    anything else is a 404. At the old address of a renamed or merged tag, GET answers 301 to the tag's
    follow address, and a POST follows the tag it became: the form may come from a tag page a cache
    served before the merge, and a 308 would count on every client re-posting the form to the new address.
    """

    kind = "tag"

    def find(self, slug):
        """(target, whether the address was a tag's old one); 404 for anything that cannot be followed."""
        if self.kind == "tag":
            return resolve_tag_slug(slug)
        return targets.find_or_404(self.kind, slug), False

    def get(self, request, slug):
        obj, redirected = self.find(slug)
        target = Followable(obj)
        if redirected:
            return moved_permanently(request, target.follow_url)
        return redirect(target.url + "#follow")

    def post(self, request, slug):
        obj, _ = self.find(slug)
        target = Followable(obj)
        data = request.POST.copy()
        data.setdefault("frequency", Follow.Frequency.IMMEDIATE)
        form = FollowForm(data)
        if csrf_refusal(request):
            # Straight from the cached, token-free follow box, or forged on another site: act on
            # nothing, and ask again on this uncached page, which carries a token of its own.
            return self.ask(request, target, form, retry="csrfmiddlewaretoken" in request.POST)
        if not limits.ip_within_limit(client_ip(request)):
            response = render(request, "articles/follow_limited.html", {"target": target}, status=429)
            response["Retry-After"] = str(limits.IP_LIMIT[1])
            return response
        if not form.is_valid():
            return self.ask(request, target, form)
        then = request_follow(obj, **form.cleaned_data)
        page = render_to_string(
            "articles/follow_sent.html", {"target": target, "valid_days": CONFIRM_DAYS}, request
        )
        return AnswerThen(page, then=then, threaded=request.META.get("wsgi.multithread", False))

    def ask(self, request, target, form, retry=False):
        status = 400 if form.errors else 200
        context = {"target": target, "form": form, "retry": retry}
        response = render(request, "articles/follow_form.html", context, status=status)
        patch_vary_headers(response, ["Cookie"])
        return response


@method_decorator(never_cache, name="dispatch")
class ConfirmView(View):
    """A follow request's confirmation page. GET shows what it asked and a button; only the button's
    POST confirms, and only that request: the address becomes a subscriber following its target, at the
    frequency chosen here (its other follows keep theirs)."""

    def dispatch(self, request, token):
        self.follow_request = find_request(token)
        if self.follow_request is None:
            return render(request, "articles/follow_invalid.html", status=400)
        self.target = Followable(self.follow_request.target)
        return super().dispatch(request, token)

    def get(self, request, token):
        if self.follow_request.confirmed_at:
            return self.done()
        return self.page(form=ConfirmForm(initial={"frequency": self.follow_request.frequency}))

    def post(self, request, token):
        if self.follow_request.confirmed_at:  # confirming twice changes nothing
            return self.done()
        form = ConfirmForm(request.POST)
        if not form.is_valid():
            return self.page(form=form, status=400)
        confirm(self.follow_request, form.cleaned_data["frequency"])
        logger.info("Subscriber %s confirmed a follow", address_hash(self.follow_request.email))
        return self.done(thanks=True)

    def page(self, status=200, **context):
        context.update(masked_email=mask_email(self.follow_request.email), target=self.target, done=False)
        return render(self.request, "articles/follow_confirm.html", context, status=status)

    def done(self, thanks=False):
        subscriber = Subscriber.objects.filter(
            email=self.follow_request.email, confirmed_at__isnull=False
        ).first()
        if subscriber is None:  # confirmed, then left (or removed by an editor)
            return render(self.request, "articles/follow_invalid.html", status=400)
        follows = subscriber.follows.select_related(*FOLLOW_KINDS).defer(*targets.STORY_TEXT)
        followed = sorted(
            (Followable(follow.target) for follow in follows),
            key=lambda target: (list(targets.GROUPS).index(target.kind), target.name.lower()),
        )
        context = {
            "done": True,
            "thanks": thanks,
            "target": self.target,
            "masked_email": mask_email(subscriber.email),
            "followed": followed,
            "manage_url": follow_url(subscriber, "manage"),
        }
        return render(self.request, "articles/follow_confirm.html", context)


@method_decorator(never_cache, name="dispatch")
class SubscriberLinkView(View):
    """A page reached through a subscriber's settings or unsubscribe link; a bad link gets a friendly 400."""

    purpose = ""
    template_name = ""
    allow_departed = False  # also accept a genuine token whose subscriber has since left

    def dispatch(self, request, token):
        self.subscriber = read_token(token, self.purpose)
        if self.subscriber is None and not (self.allow_departed and is_genuine(token, self.purpose)):
            return render(request, "articles/follow_invalid.html", status=400)
        return super().dispatch(request, token)

    def page(self, status=200, template=None, **context):
        context["subscriber"] = self.subscriber
        if self.subscriber:
            context["masked_email"] = mask_email(self.subscriber.email)
        return render(self.request, template or self.template_name, context, status=status)


class ManageView(SubscriberLinkView):
    """The subscriber's settings: each follow's frequency, follows to stop, one to add; their data to
    download (?download=json), or everything deleted (two POSTs: a question, then the answer); or leave.

    A settings link mailed when the address asked to follow something names it (``?add=<kind>:<slug>``,
    or a bare tag slug in older mails, ``&frequency=``): the page offers it, preselected.
    """

    purpose, template_name = "manage", "articles/follow_manage.html"

    def get(self, request, token):
        if request.GET.get("download") == "json":
            return self.download()
        offer = self.offer(request.GET.get("add", ""))
        initial = {}
        if offer is not None:
            initial["add"] = offer.value
            if request.GET.get("frequency") in Follow.Frequency.values:
                initial["add_frequency"] = request.GET["frequency"]
        form = ManageForm(subscriber=self.subscriber, offer=offer, initial=initial)
        return self.page(form=form, offer=offer, saved="saved" in request.GET)

    def offer(self, wanted):
        """What a settings link asks to add, unless it cannot be followed or is followed already."""
        obj = targets.parse(wanted) if wanted else None
        if obj is None or self.subscriber.follows.filter(**Follow.target_filter(obj)).exists():
            return None
        return Followable(obj)

    def post(self, request, token):
        if "leave" in request.POST:
            leave(self.subscriber)
            return render(request, "articles/follow_unsubscribe.html", {"done": True})
        if request.POST.get("delete") == "ask":
            return self.page(template="articles/follow_delete.html", done=False)
        if request.POST.get("delete") == "everything":
            erase(self.subscriber)
            return render(request, "articles/follow_delete.html", {"done": True})
        form = ManageForm(request.POST, subscriber=self.subscriber)
        if not form.is_valid():
            form.offer = form.cleaned_data.get("add")  # still chosen in the select drawn again
            return self.page(form=form, offer=form.offer, status=400)
        data = form.cleaned_data
        with transaction.atomic():
            follows = self.subscriber.follows
            follows.filter(pk__in=data["unfollow"]).delete()
            by_frequency = {}
            for pk, frequency in form.frequency_changes().items():
                by_frequency.setdefault(frequency, []).append(pk)
            for frequency, pks in by_frequency.items():
                follows.filter(pk__in=pks).update(frequency=frequency)
            if data["add"]:
                Follow.objects.update_or_create(
                    subscriber=self.subscriber,
                    **Follow.target_filter(data["add"].obj),
                    defaults={"frequency": data["add_frequency"]},
                )
        return redirect(f"{request.path}?saved=1")

    def download(self):
        """Everything we keep about the address, as a JSON file: for the link's holder alone, never kept
        by any cache (the view is never_cache: private, no-store)."""
        response = JsonResponse(data_about(self.subscriber), json_dumps_params={"indent": 2})
        response["Content-Disposition"] = 'attachment; filename="conclave-subscription.json"'
        return response


@method_decorator(csrf_exempt, name="dispatch")
class UnsubscribeView(SubscriberLinkView):
    """GET: a one-click button. POST (also straight from a mail client, RFC 8058): leave, no cookie needed."""

    purpose, template_name, allow_departed = "unsubscribe", "articles/follow_unsubscribe.html", True

    def get(self, request, token):
        return self.page(done=self.subscriber is None)

    def post(self, request, token):
        if self.subscriber is not None:
            leave(self.subscriber)
        self.subscriber = None
        return self.page(done=True)


@csrf_exempt
@never_cache
def tracking_webhook(request, service):
    """The email service's bounce and complaint webhook (bounces.py): anymail's own view for the
    service EMAIL_SERVICE names, which checks its basic auth and signature; 404 for another service,
    or with no webhook secret, as an open one would let anyone stop someone's email."""
    if service != settings.EMAIL_SERVICE or not getattr(settings, "ANYMAIL", {}).get("WEBHOOK_SECRET"):
        raise Http404("No webhook for this service here.")
    return import_string(TRACKING_VIEWS[service]).as_view()(request)
