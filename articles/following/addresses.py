"""Email addresses: which we take, how we compare them, which a message can carry, and how the log names
them without writing them down."""

import unicodedata
from email.errors import MessageError

from django.core.mail import EmailMessage
from django.utils.crypto import salted_hmac

# Unicode categories no address we mail may hold: control characters (Cc: line breaks, NUL, …), format
# characters (Cf: invisible ones such as U+200B, which IDNA drops, so one mailbox gets a second
# spelling), line and paragraph separators (Zl, Zp). RFC 5322 lets a quoted local part carry some of
# them; a mail header cannot.
UNMAILABLE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp"}


def normalise_email(address):
    """Addresses are compared and stored lower-cased and trimmed."""
    return address.strip().lower()


def has_control_characters(value):
    return any(unicodedata.category(char) in UNMAILABLE_CATEGORIES for char in value)


def is_mailable(address):
    """Whether a message can be addressed to this address as it is: no control or format characters,
    and Python's email package, as Django's mail backends use it, writes it into a header (an
    internationalised domain must encode to IDNA, for one)."""
    if has_control_characters(address):
        return False
    try:
        EmailMessage(to=[address]).message()
    except (ValueError, MessageError):  # UnicodeError, from IDNA, is a ValueError
        return False
    return True


def address_hash(value):
    """A short keyed hash, to follow one address (or IP) through the logs without writing it down."""
    return salted_hmac("follow-log", value).hexdigest()[:12]


def mask_email(address):
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}"
