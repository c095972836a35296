#!/usr/bin/env python3
"""List benchmark: every kind of list query the SPA sends, against a tenant
with 100,000 keys, on the release server, per backend.

The keys are added with plain SQL (so the database's own triggers keep the
counts and the search index, as for any writer): five name families
("Billing key 17", "Orders key 18", …), a description on every fourth key,
an expiry on two thirds spread over 400 days from 30 days ago, a tenth
revoked, every other key used in the last 1,000 minutes. PostgreSQL is
vacuumed and analysed afterwards, SQLite analysed (what autovacuum and
`PRAGMA optimize` do on a live system).

Each query is the whole HTTP request the SPA makes (the page, its total and
the dashboard counts), sent 40 times after 3 warm-ups, one at a time; the
table gives p50 and p95 (nearest rank) in milliseconds, measured by the
client on loopback, and whether p95 is within the target (20 ms).
Usage: bench_lists.py [--backends sqlite,postgres] [--requests 40] [--only TEXT]
(--only runs the queries whose label contains TEXT.)
"""
import argparse, os, sqlite3, subprocess, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_verify as bv  # noqa: E402

N = 100_000
TARGET_MS = 20.0

QUERIES = [
    ("first page, newest first", "/v1/api-keys"),
    ("oldest first", "/v1/api-keys?sort=created_at&order=asc"),
    ("by name A–Z", "/v1/api-keys?sort=name&order=asc"),
    ("by name Z–A", "/v1/api-keys?sort=name&order=desc"),
    ("by expiry, soonest first", "/v1/api-keys?sort=expires_at&order=asc"),
    ("by expiry, latest first", "/v1/api-keys?sort=expires_at&order=desc"),
    ("by creator", "/v1/api-keys?sort=created_by&order=asc"),
    ("by last use, latest first", "/v1/api-keys?sort=last_used_at&order=desc"),
    ("by last use, earliest first", "/v1/api-keys?sort=last_used_at&order=asc"),
    ("page 100 by name", "/v1/api-keys?sort=name&order=asc&page=100"),
    ("last page (4,000), newest first", "/v1/api-keys?page=4000"),
    ("last page by name, 100 a page", "/v1/api-keys?sort=name&order=asc&per_page=100&page=1000"),
    ("status active", "/v1/api-keys?status=active"),
    ("status revoked, by last use, page 3", "/v1/api-keys?status=revoked&sort=last_used_at&order=desc&page=3"),
    ("active + valid, by name, page 100", "/v1/api-keys?status=active&expiration=valid&sort=name&order=asc&page=100"),
    ("expiring soon, by expiry", "/v1/api-keys?expiration=expiring_soon&sort=expires_at&order=asc"),
    ("expired, newest first", "/v1/api-keys?expiration=expired"),
    ("revoked + expiring soon", "/v1/api-keys?status=revoked&expiration=expiring_soon"),
    ("search: one name (key 99999)", "/v1/api-keys?q=key%2099999"),
    ("search: 111 names (key 123)", "/v1/api-keys?q=key%20123"),
    ("search: 20,000 names (grafana)", "/v1/api-keys?q=grafana"),
    ("search: 20,000 names, by name, page 400", "/v1/api-keys?q=grafana&sort=name&order=asc&page=400"),
    ("search: 20,000 names + active", "/v1/api-keys?q=grafana&status=active"),
    ("search: description (customer 4240)", "/v1/api-keys?q=customer%204240"),
    ("search: key id fragment", "/v1/api-keys?q=00099999"),
    ("search: masked key (sk_live_…0042)", "/v1/api-keys?q=sk_live_%E2%80%A60042"),
    ("search: 20,000 names, by last use", "/v1/api-keys?q=grafana&sort=last_used_at&order=desc"),
    ("search: 20,000 names, by creator, page 300", "/v1/api-keys?q=grafana&sort=created_by&order=asc&page=300"),
    ("search: 20,000 names + expired, by expiry", "/v1/api-keys?q=grafana&expiration=expired&sort=expires_at&order=asc"),
    ("search: 20,000 names, last page", "/v1/api-keys?q=grafana&page=800"),
    ("search: every key ('key'), page 2,000 by name", "/v1/api-keys?q=key&sort=name&order=asc&page=2000"),
    ("search: two characters (names starting 'gr')", "/v1/api-keys?q=gr"),
    ("search + active + by name", "/v1/api-keys?q=orders%20key%2042&status=active&sort=name&order=asc"),
]

SQLITE_SEED = f"""WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {N})
    INSERT INTO api_keys (key_id, tenant_id, name, description, group_id, ip_allowlist, expires_at, prefix, last4,
        digest, digest_version, created_by, created_at, updated_at, revoked_at, last_used_at, last_used_from)
    SELECT printf('L%011d', i), 1,
        (CASE i % 5 WHEN 0 THEN 'Billing' WHEN 1 THEN 'Orders' WHEN 2 THEN 'Grafana' WHEN 3 THEN 'ERP' ELSE 'Portal' END) || ' key ' || i,
        CASE WHEN i % 4 = 0 THEN 'Nightly export for customer ' || (i % 5000) END, {{group}}, '',
        CASE WHEN i % 3 = 0 THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now', printf('%+d days', (i % 400) - 30)) END,
        'sk_live_', printf('%04d', i % 10000), randomblob(32), 1, 'loader ' || (i % 7),
        strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now', '-' || i || ' seconds'),
        strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now'),
        CASE WHEN i % 10 = 0 THEN strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now') END,
        CASE WHEN i % 2 = 0 THEN strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now', '-' || (i % 1000) || ' minutes') END,
        CASE WHEN i % 2 = 0 THEN '10.0.0.1' END
    FROM s"""

POSTGRES_SEED = f"""INSERT INTO api_keys (key_id, tenant_id, name, description, group_id, ip_allowlist, expires_at, prefix, last4,
        digest, digest_version, created_by, created_at, updated_at, revoked_at, last_used_at, last_used_from)
    SELECT 'L' || lpad(i::text, 11, '0'), 1,
        (CASE i % 5 WHEN 0 THEN 'Billing' WHEN 1 THEN 'Orders' WHEN 2 THEN 'Grafana' WHEN 3 THEN 'ERP' ELSE 'Portal' END) || ' key ' || i,
        CASE WHEN i % 4 = 0 THEN 'Nightly export for customer ' || (i % 5000) END, {{group}}, '',
        CASE WHEN i % 3 = 0 THEN NULL ELSE now() + ((i % 400) - 30) * interval '1 day' END,
        'sk_live_', lpad((i % 10000)::text, 4, '0'), decode(md5(i::text) || md5(i::text), 'hex'), 1, 'loader ' || (i % 7),
        now() - i * interval '1 second', now(),
        CASE WHEN i % 10 = 0 THEN now() END,
        CASE WHEN i % 2 = 0 THEN now() - (i % 1000) * interval '1 minute' END,
        CASE WHEN i % 2 = 0 THEN '10.0.0.1' END
    FROM generate_series(1, {N}) AS i"""

def seed(backend, env, tmp, group):
    if backend == "sqlite":
        db = sqlite3.connect(os.path.join(tmp, "keyward.db"), timeout=30)
        db.execute(SQLITE_SEED.format(group=group))
        db.commit()
        db.execute("ANALYZE")
        db.close()
    else:
        url = env["KEYWARD_DATABASE_URL"]
        subprocess.run(["psql", url, "-qc", POSTGRES_SEED.format(group=group)], check=True)
        subprocess.run(["psql", url, "-qc", "VACUUM ANALYZE"], check=True)

def percentile(sorted_xs, p):
    """Nearest rank."""
    k = max(0, min(len(sorted_xs) - 1, -(-p * len(sorted_xs) // 100) - 1))
    return sorted_xs[int(k)]

def run_backend(backend, requests, queries):
    server, env, tmp, dbname, token = bv.start(backend)
    try:
        group = bv.call("POST", "/v1/groups", token, {"name": "Bench", "kind": "tenant_api_key", "permissions": ["customers:read"]})["id"]
        t0 = time.perf_counter()
        seed(backend, env, tmp, group)
        seeded = time.perf_counter() - t0
        # The first search of a large tenant reads its keys into the
        # in-process index (docs/LISTS.md); later ones read what changed.
        t0 = time.perf_counter()
        bv.call("GET", "/v1/api-keys?q=grafana", token)
        first = (time.perf_counter() - t0) * 1000
        out = []
        for label, path in queries:
            for _ in range(3):
                bv.call("GET", path, token)
            times = []
            for _ in range(requests):
                t = time.perf_counter()
                page = bv.call("GET", path, token)
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            out.append((label, percentile(times, 50), percentile(times, 95), page["total"]))
        # A search right after a write: the index reads the changed row.
        key = bv.call("GET", "/v1/api-keys?q=grafana", token)["items"][0]["id"]
        times = []
        for i in range(requests):
            bv.call("PATCH", f"/v1/api-keys/{key}", token, {"name": f"Grafana key renamed {i}"})
            t = time.perf_counter()
            page = bv.call("GET", "/v1/api-keys?q=grafana&sort=name&order=asc&page=400", token)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        out.append(("search after a write, by name, page 400", percentile(times, 50), percentile(times, 95), page["total"]))
        return out, seeded, first
    finally:
        bv.stop(server, tmp, dbname)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    queries = [q for q in QUERIES if args.only in q[0]]
    ok = True
    for backend in args.backends.split(","):
        rows, seeded, first = run_backend(backend, args.requests, queries)
        print(f"\n## {backend}: {N:,} keys in the tenant (seeded in {seeded:.0f} s), {args.requests} requests a query, ms")
        print(f"(the first search, which reads the tenant into the in-process index: {first:.0f} ms)\n")
        print("| query | p50 | p95 | matching | p95 ≤ 20 ms |\n| --- | ---: | ---: | ---: | --- |")
        for label, p50, p95, total in rows:
            met = p95 <= TARGET_MS
            ok &= met
            print(f"| {label} | {p50:.1f} | {p95:.1f} | {total:,} | {'yes' if met else 'NO'} |")
    sys.exit(0 if ok else 1)

if __name__ == "__main__":
    main()
