"""Following by email (a tag, an author, a section, or one story: its corrections and updates, and if it
is a live story its key points and the digest of its coverage): follow requests, emailed links, the
subscriber-facing pages, and the alerts and digests (`manage.py send_notifications`).

Modules, lowest first (each imports only those above it):

* addresses: which addresses we take, compare and mail; keyed hashes for the log.
* targets: what can be followed (what has a public page), how it is found, the words for it.
* tokens: confirmation, settings and unsubscribe links.
* limits: rate limits of the follow form.
* emails: every message this package writes (follow requests, alerts, digests).
* services: which email services take batches, and how each writes a merge field.
* due: who is due which stories and notes at a notification run.
* bounces: the email service's bounce and complaint webhook; suppressed addresses.
* subscriptions: following, confirming, leaving, erasing: the changes to what an address follows; and
  what we keep about an address, for its owner to download.
* sending: the notification run, and its delivery guarantees.
* retention: what is pruned when (`manage.py prune_subscribers`).
* deferred: work done after the answer has gone (AnswerThen).
* forms, views: the pages.

Links are the only authorisation there is: no accounts, no sessions. Nothing in a link says whom it is
for (no id, nothing derived from the address):

* A follow request is a row of its own (address, target, frequency: FollowRequest), and its
  confirmation link carries a random token of which only a SHA-256 digest is stored. The link confirms
  that request and nothing else: until the address confirms, what anyone asks for it later changes
  nothing an earlier request asked. Confirming makes the address a subscriber following that target,
  at the frequency chosen on the page for that follow alone (each follow has its own; the others keep
  theirs); its other pending requests stay pending, each with its own link. The
  link works for CONFIRM_DAYS days, and `send_notifications` deletes requests older than that.
* Settings and unsubscribe links go out in every email, so they must be made again for each: they carry
  the subscriber's random link key (Subscriber.link_key), signed for their purpose with SECRET_KEY.
  They work until the subscriber leaves (the key goes with the row). An unsubscribe link of someone who
  has left still answers "you are unsubscribed": its signature shows we made it.
* Links mailed before these (the subscriber's id and an address digest, signed) still open the settings
  and unsubscribe pages, as they sit in inboxes. Old confirmation links confirm nothing any more: they
  confirmed whatever anyone had asked for the address meanwhile.

How the pages stay safe:

* The follow box on a tag, author, section or story page (which a shared page cache may serve to
  everyone) carries no CSRF token, nor anything else of one visitor's. The follow view checks the
  token itself: a POST without a valid one changes nothing and sends nothing, and gets an uncached
  page with a fresh token asking for one more click. Only that verified POST acts, and all it can do
  is record a request and send one rate-limited email.
* Its answer is the same "check your inbox" page whatever the address, in the same time: the view does
  the same work for every address (the address's rate-limit counter, one INSERT of the request, one
  SELECT of a subscriber and one of a suppression), and the mail, or none, goes out after the answer
  (AnswerThen). A suppressed address (it bounced or complained) is sent nothing. A new or pending
  address is sent its request's confirmation link (double opt-in); a subscribed one its settings link,
  with the target ready to add (?add=<kind>:<slug>), where it can add it itself, so nobody can change
  someone else's subscription.
* Confirming takes a button press (a POST): mail scanners that fetch links confirm nothing.
* The settings link also downloads everything kept about the address (a JSON file, never cached) and
  deletes it all (two POSTs with a CSRF token: a question, then the answer), suppression row included.
* Unsubscribing is one POST that needs no cookie (RFC 8058 one-click), so that view alone is
  CSRF-exempt; the signed token in its address is the authorisation.
* No address is taken that mail headers cannot carry as it is: control and format characters (a line
  break in a quoted local part would split the To: header) and domains IDNA cannot encode are refused.
"""
