"""The "Most read" beacon under load: requests/s, errors, Redis memory per hour bucket, and whether the
counts match the views sent, exactly.

* gunicorn as `make serve` runs it (conclave/gunicorn.conf.py, DEBUG off, WEB_CONCURRENCY=2) on
  PostgreSQL (database conclave_bench_beacon, migrated once) with Redis database 7 as the cache,
  behind a "proxy" (DJANGO_BEHIND_TLS_PROXY=true), so that each beacon's visitor is its X-Forwarded-For;
* ``wrk -t2 -c64 -d<duration>s`` with a Lua script cycling through a KNOWN mix of beacons, each thread
  from its own offset, the whole list many times over:
  - human readers: HUMANS visitors (their own address, a browser's user agent, the site's Origin),
    each reading 5 or 6 of the STORIES stories (fewer than the 10 a minute that mark a script), every
    (visitor, story) pair sent REPEATS times in the list;
  - bots by user agent (Googlebot, curl, python-requests, an empty one) with the site's Origin;
  - beacons with no Origin (a script replaying the URL) and a browser's user agent;
  - one fast reader: a browser going through DECOYS other stories as fast as wrk sends them;
* then the counts: for every human story, the views counted must equal the distinct human
  (visitor, story) pairs (whatever the number of times wrk sent each), no bot counts, and the decoys
  together hold exactly MAX_STORIES_PER_MINUTE views (the fast reader's first ten, then nothing).
  The script checks that every entry of the list was sent at least once (wrk's per-thread counters).
* Redis: MEMORY USAGE of the hour's bucket and the server's used_memory at the start, middle and end.

    .venv/bin/python bench/beacon.py [--duration 60]
    .venv/bin/python bench/beacon.py --duration 5      # a quick run

Needs wrk, PostgreSQL on 127.0.0.1:5432 (BENCH_PG_URL) and Redis on 127.0.0.1:6379, whose database 7 it
empties and uses. Sends traffic to 127.0.0.1 only. Nothing is asserted; the figures are printed and
written to bench/results/beacon.txt (the script exits 1 if the counts do not match).
"""

import argparse
import datetime
import json
import re
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    HOST,
    Gunicorn,
    Report,
    bench_settings_env,
    database_comment,
    exit_on_sigterm,
    free_port,
    recreate_database,
    redis_url,
    redis_version,
    require_wrk,
    run,
    setup_django,
    use_database,
    wrk,
    wrk_summary,
)

REDIS_DB = 7
DATABASE = "conclave_bench_beacon"
HUMANS = 400
STORIES = 8
REPEATS = 3
DECOYS = 30
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36"
)
BOT_AGENTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "curl/8.5.0",
    "python-requests/2.32.3",
    "",
]

LUA = r"""
-- Cycles through the beacons of %(list)s, each thread from its own offset; counts what it sent.
local entries = {}
for line in io.lines("%(list)s") do
  local ip, ua, origin, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
  local headers = {["Content-Type"] = "text/plain;charset=UTF-8", ["X-Forwarded-For"] = ip}
  if ua ~= "" then headers["User-Agent"] = ua else headers["User-Agent"] = "" end
  if origin ~= "" then headers["Origin"] = origin end
  entries[#entries + 1] = wrk.format("POST", "/beacon/", headers, body)
end
local threads = {}
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  threads[#threads + 1] = thread
end
function init(args)
  sent = 0
  offset = math.floor(id * #entries / 2)
end
function request()
  sent = sent + 1
  return entries[((offset + sent - 1) %% #entries) + 1]
end
function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    io.write(string.format("SENT %%d %%d\n", thread:get("offset"), thread:get("sent")))
  end
end
"""


def build_mix(ticket, origin):
    """The list of beacons (ip, user agent, origin, body) and the expected counts per story."""
    entries, expected = [], {}
    stories = list(range(1, STORIES + 1))
    pairs = {}  # (visitor, story) -> the indices of its beacons in the list
    for visitor in range(HUMANS):
        ip = f"10.1.{visitor // 250}.{visitor % 250 + 1}"
        for story in stories:
            if (visitor + story) % 3 == 0:
                continue  # 5 or 6 stories each
            expected[story] = expected.get(story, 0) + 1
            pairs[(visitor, story)] = range(len(entries), len(entries) + REPEATS)
            entries += [(ip, CHROME, origin, ticket(story))] * REPEATS
    for n, agent in enumerate(BOT_AGENTS * 25):
        entries += [(f"10.2.0.{n + 1}", agent, origin, ticket(stories[n % STORIES]))] * REPEATS
    for n in range(100):
        entries += [(f"10.3.0.{n + 1}", CHROME, "", ticket(stories[n % STORIES]))] * REPEATS
    decoys = range(1001, 1001 + DECOYS)
    entries += [("10.4.0.1", CHROME, origin, ticket(story)) for story in decoys] * REPEATS
    # Interleaved, so that a visitor's repeats and the kinds of beacon arrive mixed.
    order = [index for start in range(7) for index in range(start, len(entries), 7)]
    position = {old: new for new, old in enumerate(order)}
    pairs = {pair: [position[index] for index in indices] for pair, indices in pairs.items()}
    return [entries[index] for index in order], expected, list(decoys), pairs


def sent_indices(out, size):
    """The list positions wrk sent at least once: each thread from its offset, on round the list."""
    sent = set()
    for offset, count in re.findall(r"^SENT (\d+) (\d+)$", out, re.M):
        offset, count = int(offset), int(count)
        if count >= size:
            return set(range(size))
        sent.update((offset + n) % size for n in range(count))
    return sent


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=60)
    args = parser.parse_args()
    exit_on_sigterm()
    require_wrk()
    report = Report()
    work = Path(tempfile.mkdtemp(prefix="conclave-bench-beacon-"))
    port = free_port()
    origin = f"http://{HOST}:{port}"
    env = bench_settings_env(
        work / "media",
        work / "static",
        DATABASE_URL=f"postgres://postgres@{HOST}:5432/{DATABASE}",
        CACHE_URL=redis_url(REDIS_DB),
        DJANGO_BEHIND_TLS_PROXY="true",
        WEB_CONCURRENCY="2",
        SITE_URL=origin,
        PATH="/usr/bin:/bin",
    )
    setup_django(env)
    from django.core.management import call_command

    if database_comment(DATABASE) is None:
        recreate_database(DATABASE)
    use_database(DATABASE)
    call_command("migrate", verbosity=0)

    import redis

    from articles import readership

    client = redis.Redis.from_url(redis_url(REDIS_DB))
    client.flushdb()
    entries, expected, decoys, pairs = build_mix(readership.ticket, origin)
    mix = work / "beacons.tsv"
    mix.write_text("".join("\t".join(entry) + "\n" for entry in entries))
    script = work / "beacons.lua"
    script.write_text(LUA % {"list": mix})

    server = Gunicorn(port, env, work / "gunicorn.log")
    hour = datetime.datetime.now(datetime.UTC)
    bucket = readership.store().bucket_key(hour.strftime("%Y%m%d%H"))
    memory = []

    def sample(label):
        memory.append(
            (label, client.memory_usage(bucket) or 0, client.info("memory")["used_memory"], client.dbsize())
        )

    try:
        server.start()
        server.wait_ready()
        sample("start")
        timer = threading.Timer(args.duration / 2, sample, ["middle"])
        timer.start()
        out = wrk(f"http://{HOST}:{port}/beacon/", args.duration, 2, 64, "-s", str(script))
        timer.join()
        sample("end")
    finally:
        server.stop()
    if datetime.datetime.now(datetime.UTC).strftime("%Y%m%d%H") != hour.strftime("%Y%m%d%H"):
        report("(the hour turned during the run: the bucket figures cover its first hour only)")

    summary = wrk_summary(out)
    sent = sent_indices(out, len(entries))
    unsent = [pair for pair, indices in pairs.items() if not sent.intersection(indices)]
    counted = dict(readership.most_read(hours=2, limit=None))
    report(
        f"Beacon under load: wrk -t2 -c64 -d{args.duration}s, gunicorn WEB_CONCURRENCY=2, "
        f"Redis {redis_version(redis_url(REDIS_DB))}"
    )
    report(
        f"  {len(entries)} beacons in the list, {len(pairs)} human (visitor, story) pairs, "
        f"{len(pairs) - len(unsent)} of them sent at least once"
    )
    report(f"  requests: {summary['requests']}, requests/s: {summary['requests_per_second']:.0f}")
    report("  wrk's thread stats: " + " ".join(re.search(r"^\s*Latency.*$", out, re.M).group(0).split()))
    report(f"  non-2xx: {summary['non_2xx_or_3xx']}, socket errors: {json.dumps(summary['socket_errors'])}")
    report()
    report(
        "Redis memory (the hour's bucket; the whole server, with the day's salt, visitor hashes and pages):"
    )
    report.table(["sample", "bucket bytes", "used_memory", "keys"], memory)
    report()
    # Expected: the distinct human pairs wrk sent (all of them, unless the run was too short).
    expected = dict.fromkeys(expected, 0)
    for (_visitor, story), indices in pairs.items():
        if sent.intersection(indices):
            expected[story] += 1
    rows, exact = [], True
    for story in sorted(expected):
        rows.append((f"story {story}", expected[story], counted.get(story, 0)))
        exact &= expected[story] == counted.get(story, 0)
    decoy_total = sum(counted.get(story, 0) for story in decoys)
    rows.append((f"{DECOYS} decoys (the fast reader)", readership.MAX_STORIES_PER_MINUTE, decoy_total))
    exact &= decoy_total == readership.MAX_STORIES_PER_MINUTE
    stray = set(counted) - set(expected) - set(decoys)
    exact &= not stray
    report.table(["story", "expected", "counted"], rows)
    report(
        f"counts {'match exactly' if exact else 'DO NOT match'}"
        + (f"; stray ids {sorted(stray)}" if stray else "")
    )
    report.save("beacon.txt")
    run(["rm", "-rf", str(work)])
    sys.exit(0 if exact else 1)


if __name__ == "__main__":
    main()
