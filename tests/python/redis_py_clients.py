"""redis-py's Lock and a stream consumer-group worker, run unchanged against one server.

Usage: python3 redis_py_clients.py PORT

Prints one line per observation (no times, no ids that differ between servers), so that
tests/tests/redis_py.rs can run it against kvstore and against redis-server and compare the
two transcripts. Any unexpected exception ends it with a traceback and a non-zero status.
"""

import sys
import threading
import time

import redis
from redis.exceptions import LockError, LockNotOwnedError

r = redis.Redis(port=int(sys.argv[1]), decode_responses=True)


def say(*words):
    print(" ".join(str(w) for w in words), flush=True)


def locks():
    r.flushall()
    lock = r.lock("resource", timeout=10)
    say("acquire", lock.acquire(blocking=False))
    say("locked", lock.locked(), "owned", lock.owned())
    other = r.lock("resource", timeout=10)
    say("other, non-blocking", other.acquire(blocking=False))
    say("other, blocking 0.2 s", other.acquire(blocking_timeout=0.2))
    say("extend", lock.extend(5))
    say("ttl after extend in (14 s, 15 s]", 14000 < r.pttl("resource") <= 15000)
    say("extend, replace_ttl", lock.extend(3, replace_ttl=True))
    say("ttl after replace in (2 s, 3 s]", 2000 < r.pttl("resource") <= 3000)
    say("reacquire", lock.reacquire())
    say("ttl after reacquire in (9 s, 10 s]", 9000 < r.pttl("resource") <= 10000)
    lock.release()
    say("released; locked", lock.locked())
    try:
        lock.release()
        say("second release: no error")
    except LockError as e:
        say("second release:", type(e).__name__)

    # A lock that expired and was taken by another owner: its old owner can neither release
    # nor extend it (the Lua scripts compare the token).
    short = r.lock("short", timeout=0.1)
    short.acquire()
    time.sleep(0.3)
    thief = r.lock("short", timeout=10)
    say("new owner after expiry", thief.acquire(blocking=False))
    # Extend first: a failed release forgets the token on the client side.
    for what, act in (("extend", lambda: short.extend(1)), ("release", short.release)):
        try:
            act()
            say("stale", what, ": no error")
        except LockNotOwnedError as e:
            say("stale", what, ":", type(e).__name__)
    thief.release()
    say("scripts cached", r.script_exists(lock.lua_release.sha, lock.lua_extend.sha,
                                          lock.lua_reacquire.sha))

    # Mutual exclusion: threads read-modify-write a counter under the lock.
    r.set("counter", 0)

    def work():
        for _ in range(50):
            with r.lock("mutex", timeout=5, sleep=0.001):
                value = int(r.get("counter"))
                r.set("counter", value + 1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    say("counter after 4 x 50 locked increments", r.get("counter"))
    say("mutex left behind", r.exists("mutex"))


def consumers():
    r.flushall()
    r.xgroup_create("jobs", "workers", id="0", mkstream=True)
    for n in range(20):
        r.xadd("jobs", {"n": n})
    done = []
    done_lock = threading.Lock()

    def worker(name, crash_after=None):
        handled = 0
        while True:
            reply = r.xreadgroup("workers", name, {"jobs": ">"}, count=3, block=300)
            if not reply:
                return
            for _stream, messages in reply:
                for message_id, fields in messages:
                    if crash_after is not None and handled == crash_after:
                        return  # dies with this message delivered but not acknowledged
                    with done_lock:
                        done.append(int(fields["n"]))
                    r.xack("jobs", "workers", message_id)
                    handled += 1

    crashing = threading.Thread(target=worker, args=("crashing", 2))
    crashing.start()
    crashing.join()
    say("pending after the crash", r.xpending("jobs", "workers")["pending"])
    workers = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(2)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    summary = r.xpending("jobs", "workers")
    say("pending after the workers", summary["pending"],
        [(c["name"], c["pending"]) for c in summary["consumers"]])

    # Recovery: claim what the crashed worker left and finish it.
    _next, claimed, _deleted = r.xautoclaim("jobs", "workers", "rescuer", min_idle_time=0,
                                           start_id="0-0")
    for message_id, fields in claimed:
        done.append(int(fields["n"]))
        r.xack("jobs", "workers", message_id)
    say("claimed", len(claimed), "pending after recovery",
        r.xpending("jobs", "workers")["pending"])
    say("every job done once", sorted(done) == list(range(20)), len(done))
    group = r.xinfo_groups("jobs")[0]
    say("group", group["name"], "pending", group["pending"], "lag", group.get("lag"),
        "read all", group["last-delivered-id"] == r.xinfo_stream("jobs")["last-generated-id"])
    # Which of w0 and w1 got entries (and so exists as a consumer) depends on scheduling.
    names = sorted(c["name"] for c in r.xinfo_consumers("jobs", "workers"))
    say("consumers", [n for n in names if n not in ("w0", "w1")],
        "and 1 or 2 of the workers", 1 <= len([n for n in names if n in ("w0", "w1")]) <= 2)

    # A blocked consumer wakes when a producer adds.
    got = []

    def blocked():
        got.append(r.xreadgroup("workers", "sleeper", {"jobs": ">"}, count=1, block=5000))

    sleeper = threading.Thread(target=blocked)
    sleeper.start()
    time.sleep(0.2)
    r.xadd("jobs", {"n": "late"})
    sleeper.join()
    say("woken by XADD with", got[0][0][1][0][1])


locks()
consumers()
say("end")
