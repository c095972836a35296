#!/usr/bin/env python3
"""Webhook benchmark: the release server and a receiver on loopback, per
backend (SQLite, then PostgreSQL):

  1. Delivery throughput. 10 endpoints subscribed to `api_key.created`;
     8 API clients generate 2,000 keys (20,000 deliveries) as fast as the
     server takes them. The receiver (another process) checks every
     signature (HMAC-SHA-256 over id.timestamp.body, as docs/WEBHOOKS.md
     says) and every `webhook-id` (no duplicates). Printed: keys/s generated
     without endpoints and with 10 (the outbox's cost in the change's
     transaction), deliveries/s over the run (the worker competing with the
     clients for the tenant's write lock), the lag of the last delivery,
     and the delivery log's totals (every delivery `delivered`, none
     pending). Then the server is stopped, all 20,000 deliveries are put
     back in the queue (SQL: pending, due), and it is started again: the
     time from its start to the last delivery is the worker's own
     throughput on a backlog (as after an endpoint outage), checked the
     same way.
  2. Verification unaffected. scripts/bench_verify.py's runs (a) /healthz,
     (b) whoami with valid keys, (c) whoami with unknown keys, interleaved
     rounds, twice: without endpoints, then with 10 endpoints subscribed to
     every event (the receiver answering). b/a and c/a of both passes are
     printed beside their targets (0.90, 0.85): the ratios are measured
     within each pass, so the two passes compare only through them.

Usage: bench_webhooks.py [--backends sqlite,postgres] [--keys 2000] [--endpoints 10]
                         [--clients 8] [--rounds 20] [--duration 2] [--skip-verify]
(KEYWARD_BENCH_BIN=path benchmarks another server binary.)
"""
import argparse, base64, concurrent.futures, hashlib, hmac, multiprocessing, os, signal, sqlite3, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_verify as bv  # noqa: E402

RX_PORT = 18282
ALLOW_LOOPBACK = {"KEYWARD_WEBHOOK_ALLOW_NETWORKS": '["127.0.0.0/8"]'}


def receive(port, secrets, count, bad, dups, first, last):
    """The receiver (run in its own process): HTTP/1.1 with keep-alive,
    answers 204 at once, checks each delivery's signature and id."""
    import asyncio

    keys = {f"/e{i}": base64.b64decode(s.removeprefix("whsec_")) for i, s in enumerate(secrets)}
    seen = set()

    def check(path, headers, body):
        key = keys.get(path)
        mid, ts = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
        ok = False
        if key:
            mac = hmac.new(key, f"{mid}.{ts}.".encode() + body, hashlib.sha256).digest()
            expected = "v1," + base64.b64encode(mac).decode()
            ok = any(hmac.compare_digest(sig, expected) for sig in headers.get("webhook-signature", "").split())
        if not ok:
            bad.value += 1
        if (path, mid) in seen:
            dups.value += 1
        seen.add((path, mid))
        now = time.time()
        if count.value == 0:
            first.value = now
        last.value = now
        count.value += 1

    class Http(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport, self.buf = transport, b""

        def data_received(self, data):
            self.buf += data
            while (end := self.buf.find(b"\r\n\r\n")) >= 0:
                lines = self.buf[:end].decode("latin-1").split("\r\n")
                headers = {}
                for line in lines[1:]:
                    k, _, v = line.partition(":")
                    headers[k.strip().lower()] = v.strip()
                n = int(headers.get("content-length", "0"))
                if len(self.buf) < end + 4 + n:
                    return
                body, self.buf = self.buf[end + 4:end + 4 + n], self.buf[end + 4 + n:]
                check(lines[0].split(" ")[1], headers, body)
                self.transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")

    async def serve():
        server = await asyncio.get_running_loop().create_server(Http, "127.0.0.1", port, backlog=1024)
        await server.serve_forever()

    asyncio.run(serve())


class Receiver:
    def __init__(self, secrets):
        self.count, self.bad, self.dups = (multiprocessing.RawValue("q", 0) for _ in range(3))
        self.first, self.last = multiprocessing.RawValue("d", 0.0), multiprocessing.RawValue("d", 0.0)
        self.proc = multiprocessing.Process(target=receive, daemon=True,
                                            args=(RX_PORT, secrets, self.count, self.bad, self.dups, self.first, self.last))
        self.proc.start()
        time.sleep(0.5)

    def stop(self):
        self.proc.terminate()
        self.proc.join()


def endpoints(token, n, events):
    """Adds `n` endpoints on the receiver's /e0 … /e{n-1}; their secrets."""
    body = lambda i: {"url": f"http://127.0.0.1:{RX_PORT}/e{i}", "description": f"bench {i}"} | ({"events": events} if events else {})
    made = [bv.call("POST", "/v1/webhooks", token, body(i)) for i in range(n)]
    return [m["endpoint"]["id"] for m in made], [m["secret"] for m in made]


def generate(token, group, n, clients, tag):
    """Generates `n` keys from `clients` threads; returns (keys/s, end time)."""
    start = time.time()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda i: bv.call("POST", "/v1/api-keys", token, {"name": f"{tag} {i}", "group_id": group}), range(n)))
    end = time.time()
    return n / (end - start), end


def serve(env):
    """Starts the release server with `env` (an existing database)."""
    server = subprocess.Popen([bv.BIN, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = server.stdout.readline()
    while "listening on" not in line:
        if not line:
            raise RuntimeError("the server did not start")
        line = server.stdout.readline()
    return server


def requeue(backend, env):
    """Puts every delivery back in the queue: pending and due (their
    `next_attempt_at` is in the past)."""
    sql = "UPDATE webhook_deliveries SET status = 'pending', delivered_at = NULL, lease_until = NULL"
    if backend == "postgres":
        subprocess.run(["psql", env["KEYWARD_DATABASE_URL"], "-qc", sql], check=True)
    else:
        db = sqlite3.connect(os.path.join(env["KEYWARD_DATA_DIR"], "keyward.db"), timeout=30)
        db.execute(sql)
        db.commit()
        db.close()


def arrived(rx, total, since):
    """Waits until the receiver has `total` deliveries (10 minutes at most)."""
    while rx.count.value < total and time.time() - since < 600:
        time.sleep(0.05)
    if rx.count.value < total:
        raise RuntimeError(f"only {rx.count.value} of {total} deliveries arrived in 10 minutes")
    time.sleep(1)  # anything more (a duplicate) would arrive now


def delivery_log(token, ids):
    return {s: sum(bv.call("GET", f"/v1/webhooks/{i}/deliveries?status={s}&per_page=1", token)["total"] for i in ids)
            for s in ("delivered", "pending", "failed")}


def throughput(backend, keys, n_endpoints, clients):
    server, env, tmp, dbname, token = bv.start(backend, ALLOW_LOOPBACK)
    rx = None
    try:
        bv.call("PATCH", "/v1/tenants/1", token, {"key_limit": 2 * keys + 10})
        group = bv.call("POST", "/v1/groups", token, {"name": "Bench", "kind": "tenant_api_key", "permissions": ["customers:read"]})["id"]
        plain, _ = generate(token, group, keys, clients, "plain")
        ids, secrets = endpoints(token, n_endpoints, ["api_key.created"])
        rx = Receiver(secrets)
        total = keys * n_endpoints
        start = time.time()
        hooked, produced = generate(token, group, keys, clients, "hooked")
        at_end = rx.count.value
        arrived(rx, total, produced)
        last = rx.last.value
        out = {"plain": plain, "hooked": hooked, "total": total, "received": rx.count.value,
               "bad": rx.bad.value, "dups": rx.dups.value, "log": delivery_log(token, ids),
               "overall": total / (last - start), "backlog": total - at_end,
               "lag": max(0.0, last - produced), "seconds": last - start}
        # The backlog: everything again, from a restart.
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        rx.stop()
        requeue(backend, env)
        rx = Receiver(secrets)
        start = time.time()
        server = serve(env)
        arrived(rx, total, start)
        out["drain"] = {"seconds": rx.last.value - start, "rate": total / (rx.last.value - start),
                        "received": rx.count.value, "bad": rx.bad.value, "dups": rx.dups.value,
                        "log": delivery_log(token, ids)}
        return out
    finally:
        if rx:
            rx.stop()
        bv.stop(server, tmp, dbname)


def verification(backend, rounds, duration, n_endpoints):
    """bench_verify's (a), (b), (c), without then with endpoints."""
    out = {}
    out["without"] = bv.run_backend(backend, rounds, duration, True, only="abc", env=ALLOW_LOOPBACK)
    rx = []

    def setup(token):
        _, secrets = endpoints(token, n_endpoints, None)
        rx.append(Receiver(secrets))
    try:
        out["with"] = bv.run_backend(backend, rounds, duration, True, only="abc", env=ALLOW_LOOPBACK, setup=setup)
        out["received"], out["bad"] = rx[0].count.value, rx[0].bad.value
    finally:
        for r in rx:
            r.stop()
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--keys", type=int, default=2000)
    ap.add_argument("--endpoints", type=int, default=10)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--duration", type=int, default=2)
    ap.add_argument("--skip-verify", action="store_true", help="only the delivery throughput")
    args = ap.parse_args()
    ok = True
    for backend in args.backends.split(","):
        t = throughput(backend, args.keys, args.endpoints, args.clients)
        print(f"\n## {backend}: delivery throughput ({args.keys:,} keys generated by {args.clients} API clients, "
              f"{args.endpoints} endpoints subscribed to api_key.created, receiver on loopback, release build)\n")
        print("| measure | value |\n| --- | ---: |")
        print(f"| keys generated/s, no endpoint | {t['plain']:,.0f} |")
        print(f"| keys generated/s, {args.endpoints} endpoints (outbox rows in the same transaction) | {t['hooked']:,.0f} |")
        print(f"| deliveries | {t['total']:,} in {t['seconds']:.1f} s |")
        print(f"| deliveries/s while the keys are generated (first key to last delivery) | {t['overall']:,.0f} |")
        print(f"| still queued when the last key was generated / last delivery after it | {t['backlog']:,} / {t['lag']:.1f} s |")
        print(f"| signatures that failed / duplicate webhook-ids | {t['bad']} / {t['dups']} |")
        print(f"| delivery log: delivered / pending / failed | {t['log']['delivered']:,} / {t['log']['pending']} / {t['log']['failed']} |")
        d = t["drain"]
        print(f"| **backlog of {t['total']:,} after a restart: deliveries/s** (server start to last delivery) | **{d['rate']:,.0f}** ({d['seconds']:.1f} s) |")
        print(f"| backlog: signatures that failed / duplicate webhook-ids | {d['bad']} / {d['dups']} |")
        print(f"| backlog: delivery log delivered / pending / failed | {d['log']['delivered']:,} / {d['log']['pending']} / {d['log']['failed']} |")
        done = {"delivered": t["total"], "pending": 0, "failed": 0}
        good = (t["bad"] == 0 and t["dups"] == 0 and t["received"] == t["total"] and t["log"] == done
                and d["bad"] == 0 and d["dups"] == 0 and d["received"] == t["total"] and d["log"] == done)
        ok &= good
        print(f"\n- every delivery arrived once (each time), signed, and logged as delivered: {'yes' if good else 'NO'}")
        if args.skip_verify:
            continue
        v = verification(backend, args.rounds, args.duration, args.endpoints)
        print(f"\n## {backend}: verification with and without webhooks (bench_verify runs a, b, c; wrk -t2 -c64, "
              f"{args.rounds} interleaved rounds of {args.duration} s, medians; 1,000 keys)\n")
        print("| pass | (a) requests/s | (b) requests/s | b/a (target ≥ 0.90) | (c) requests/s | c/a (target ≥ 0.85) |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for name, label in [("without", "no endpoint"), ("with", f"{args.endpoints} endpoints, every event")]:
            r = v[name]
            print(f"| {label} | {r['a']['rps']:,.0f} | {r['b']['rps']:,.0f} | {r['b']['ratio']:.2f} | {r['c']['rps']:,.0f} | {r['c']['ratio']:.2f} |")
        delta = v["with"]["b"]["ratio"] - v["without"]["b"]["ratio"]
        print(f"\n- b/a with endpoints minus without: {delta:+.2f}; deliveries during the pass: {v['received']} "
              f"({v['bad']} with a bad signature)")
        met = v["with"]["b"]["ratio"] >= 0.90 and v["with"]["c"]["ratio"] >= 0.85 and v["bad"] == 0
        ok &= met
        print(f"- targets met with webhooks configured: {'yes' if met else 'NO'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
