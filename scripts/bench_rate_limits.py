#!/usr/bin/env python3
"""Rate limits across instances: 4 release servers on one PostgreSQL
database and one Redis, one key driven at 3x its limit through all four.

  1. 60 s at 3x the limit (evenly over the instances): the requests
     admitted, against the limit's budget over the run (burst + rate x
     duration). Target: within +-5 %.
  2. Redis stopped mid-run: the instances reach Redis through a TCP relay
     run by this script; after 10 s of a 20 s run the relay closes every
     connection and stops listening. Every answer is counted by status:
     no 5xx may appear, and the documented fallback (`local`: each instance
     enforces the limit on its own) must be observed: admissions go on,
     up to the limit per instance.

Usage: bench_rate_limits.py [--limit 50] [--seconds 60]
(KEYWARD_BENCH_BIN=path benchmarks another server binary;
KEYWARD_TEST_POSTGRES_URL and KEYWARD_REDIS_ADDR=host:port name the services.)
"""
import argparse, http.client, json, os, random, selectors, shutil, signal, socket, subprocess, sys, tempfile, threading, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("KEYWARD_BENCH_BIN", os.path.join(ROOT, "target", "release", "keyward"))
PG = os.environ.get("KEYWARD_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
REDIS = os.environ.get("KEYWARD_REDIS_ADDR", "127.0.0.1:6379")
PASSWORD = "benchmark password 1"
PORTS = [18191, 18192, 18193, 18194]


class Relay:
    """A TCP relay to Redis that can be cut: stop() closes the listener and
    every connection, as a Redis that went away."""

    def __init__(self, target):
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.sockets = []
        self.running = True
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while self.running:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            threading.Thread(target=self.pump, args=(client, upstream), daemon=True).start()

    def pump(self, a, b):
        sel = selectors.DefaultSelector()
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        try:
            while self.running:
                for key, _ in sel.select(0.2):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
        except OSError:
            return
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass

    def stop(self):
        self.running = False
        self.listener.close()
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass


def call(port, method, path, token=None, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


def start(port, env):
    server = subprocess.Popen([BIN, "serve"], env=dict(env, KEYWARD_LISTEN=f"127.0.0.1:{port}"),
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = server.stdout.readline()
    while "listening on" not in line:
        if not line:
            raise RuntimeError("a server did not start")
        line = server.stdout.readline()
    return server


def drive(secret, rate, seconds, on_tick=None):
    """Sends `rate` requests a second in total, evenly over the instances
    (one thread each, paced); returns per-second counts by status."""
    counts = {}
    lock = threading.Lock()
    start_at = time.monotonic()
    stop_at = start_at + seconds

    def worker(port, offset):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        interval = len(PORTS) / rate
        n = 0
        while True:
            at = start_at + offset + n * interval
            if at >= stop_at:
                break
            delay = at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                conn.request("GET", "/v1/whoami", headers={"X-API-Key": secret})
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException):
                status = 0
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            second = int(time.monotonic() - start_at)
            with lock:
                counts.setdefault(second, {}).setdefault(status, 0)
                counts[second][status] += 1
            n += 1

    threads = [threading.Thread(target=worker, args=(p, i / rate)) for i, p in enumerate(PORTS)]
    for t in threads:
        t.start()
    if on_tick:
        on_tick()
    for t in threads:
        t.join()
    return counts


def total(counts, status, seconds=None):
    return sum(c.get(status, 0) for s, c in counts.items() if seconds is None or s in seconds)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=50, help="the key's limit per second (its burst too)")
    ap.add_argument("--seconds", type=int, default=60)
    args = ap.parse_args()
    relay = Relay(REDIS)
    tmp = tempfile.mkdtemp(prefix="keyward-bench-rl-")
    dbname = f"keyward_bench_{random.randrange(1 << 32):08x}"
    subprocess.run(["psql", f"{PG}/postgres", "-qc", f"CREATE DATABASE {dbname}"], check=True)
    env = dict(os.environ, KEYWARD_DATA_DIR=tmp, KEYWARD_BOOTSTRAP_PASSWORD=PASSWORD, KEYWARD_LOG_LEVEL="error",
               KEYWARD_SPA_DIR=os.path.join(tmp, "none"), KEYWARD_DATABASE_URL=f"{PG}/{dbname}",
               KEYWARD_REDIS_URL=f"redis://127.0.0.1:{relay.port}/0",
               KEYWARD_REDIS_PREFIX=f"keyward-bench-{random.randrange(1 << 32):08x}",
               KEYWARD_RATE_LIMIT_FALLBACK="local", KEYWARD_FAILED_VERIFICATIONS_PER_MINUTE="4000000000")
    servers = []
    ok = True
    try:
        servers.append(start(PORTS[0], env))
        # The others share the first one's hashing secret (its data dir).
        for p in PORTS[1:]:
            servers.append(start(p, env))
        token = call(PORTS[0], "POST", "/v1/auth/login", body={"username": "admin", "password": PASSWORD})["token"]
        group = call(PORTS[0], "POST", "/v1/groups", token, {"name": "Metered", "kind": "tenant_api_key",
                                                            "permissions": ["customers:read"]})["id"]
        limit = args.limit
        window = [{"limit": limit, "period_seconds": 1}]
        secret = call(PORTS[0], "POST", "/v1/api-keys", token, {"name": "driven", "group_id": group,
                                                               "rate_limit": window})["secret"]
        time.sleep(1.5)  # every instance learns of the key
        rate = 3 * limit
        seconds = args.seconds
        counts = drive(secret, rate, seconds)
        admitted, refused = total(counts, 200), total(counts, 429)
        budget = limit + limit * seconds
        errors = sum(n for c in counts.values() for s, n in c.items() if s not in (200, 429))
        deviation = (admitted - budget) / budget
        met = abs(deviation) <= 0.05 and errors == 0
        ok &= met
        print(f"\n## 4 instances, one PostgreSQL, one Redis; one key of {limit}/s (burst {limit}) driven at {rate}/s for {seconds} s\n")
        print(f"- sent {admitted + refused + errors}: {admitted} admitted, {refused} refused (429), {errors} other")
        print(f"- the budget over the run: burst {limit} + {limit}/s x {seconds} s = {budget}")
        print(f"- admitted / budget = {admitted / budget:.3f} ({deviation:+.1%}; target within +-5 %: {'met' if met else 'NOT met'})")

        # 2: Redis goes away mid-run.
        def cut():
            time.sleep(10)
            relay.stop()
        counts = drive(secret, rate, 20, on_tick=lambda: threading.Thread(target=cut, daemon=True).start())
        five = sum(n for c in counts.values() for s, n in c.items() if s >= 500 or s == 0)
        before = [s for s in counts if s < 10]
        after = [s for s in counts if s >= 11]
        adm_before = total(counts, 200, before) / max(len(before), 1)
        adm_after = total(counts, 200, after) / max(len(after), 1)
        # `local`: each instance enforces the limit on its own; the driven
        # rate per instance (rate / 4) is below it, so all are admitted.
        expected_after = min(rate, limit * len(PORTS))
        fallback = adm_after >= 0.9 * expected_after
        met = five == 0 and fallback
        ok &= met
        print(f"\n## Redis stopped after 10 s of 20 s (fallback `local`), same key and rate\n")
        print(f"- 5xx or failed requests: {five}")
        print(f"- admitted per second: {adm_before:.0f} with Redis (limit {limit}), {adm_after:.0f} without "
              f"(expected about {expected_after}: each instance enforces {limit}/s on its own)")
        print(f"- target: no 5xx and the fallback observed: {'met' if met else 'NOT met'}")
    finally:
        for s in servers:
            s.send_signal(signal.SIGTERM)
        for s in servers:
            s.wait(timeout=30)
        relay.stop()
        subprocess.run(["psql", f"{PG}/postgres", "-qc", f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)"], check=False)
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
