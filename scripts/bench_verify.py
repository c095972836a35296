#!/usr/bin/env python3
"""Verification benchmark: the release server with 1,000 keys, driven by wrk on
loopback, in one run per backend:

  (a) GET /healthz            no authentication (the framework's own cost)
  (b) GET /v1/whoami          valid keys chosen at random
  (c) GET /v1/whoami          well-formed (valid checksum) but unknown keys
  (d) GET /v1/whoami          malformed keys
  (e) GET /v1/whoami          valid keys with a generous rate limit
                              (1,000,000/s, so that none is refused: the
                              cost of keeping every key's budget, in process)

Prints requests/s, p50 and p99 of each, and the ratios b/a … e/a.
The four runs are repeated in short interleaved rounds, alternating the order
(a b c d, d c b a, …); each ratio is the median of the per-round ratios and
each figure the median over the rounds. On this kind of small virtual machine
throughput drifts by 10–20 % over tens of seconds, whatever is being measured
(the host reclaims memory in the background), so only runs seconds apart are
compared with each other.
The failure throttle is raised for the run so that (c) and (d) measure the
verification path, not the cheaper 429 path.
Each round also reads the server's CPU time (user + system, /proc) around
every run: the ratio of CPU time per request (a's over the scenario's) is
printed beside the throughput ratio, as a check that does not depend on how
the two cores were shared with wrk in that run.
With metrics on (the default) `GET /metrics` is enabled and scraped every
5 s during the rounds (more often than Prometheus's usual 15 s); requests
and verifications are counted whether or not anybody scrapes.
Then one more pass on SQLite with the rate limits in Redis
(KEYWARD_REDIS_URL, default redis://127.0.0.1:6379/0): (a) and (e) only,
e/a with the budgets leased from Redis (target ≥ 0.80).
Usage: bench_verify.py [--backends sqlite,postgres] [--rounds 20] [--duration 2] [--no-metrics] [--no-redis]
(The list pages at 100,000 keys are scripts/bench_lists.py.)
(KEYWARD_BENCH_BIN=path benchmarks another server binary.)
"""
import argparse, json, os, random, re, shutil, signal, subprocess, sys, tempfile, threading, time, urllib.request, zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# KEYWARD_BENCH_BIN benchmarks another build (e.g. a copy of an earlier
# commit's release binary, for a before/after comparison).
BIN = os.environ.get("KEYWARD_BENCH_BIN", os.path.join(ROOT, "target", "release", "keyward"))
PG = os.environ.get("KEYWARD_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
PASSWORD = "benchmark password 1"
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PORT = 18181
METRICS_TOKEN = "bench-metrics-token-0123456789"

def b62(n, width):
    out = []
    for _ in range(width):
        out.append(ALPHABET[n % 62]); n //= 62
    return "".join(reversed(out))

def forged_key(rng):
    body = "sk_live_" + "".join(rng.choice(ALPHABET) for _ in range(12)) + "_" + "".join(rng.choice(ALPHABET) for _ in range(28))
    return body + b62(zlib.crc32(body.encode()), 6)

def call(method, path, token=None, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")

def wrk(path, script, duration):
    cmd = ["wrk", "-t2", "-c64", f"-d{duration}s", "--latency"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [f"http://127.0.0.1:{PORT}{path}"], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": pct(50), "p99": pct(99), "non2xx": int(non2xx.group(1)) if non2xx else 0}

def lua(keys_file, tmp, header="X-API-Key"):
    """A wrk script sending a random line of keys_file in `header`. Run (a)
    uses the same script with a header the server ignores, so the load
    generator does the same work in every run and the ratios compare the
    server alone."""
    path = os.path.join(tmp, "keys.lua")
    with open(path, "w") as f:
        f.write(f"""local keys = {{}}
for line in io.lines("{keys_file}") do keys[#keys + 1] = line end
math.randomseed(os.time() + tonumber(tostring({{}}):sub(8), 16))
request = function()
  return wrk.format("GET", nil, {{["{header}"] = keys[math.random(#keys)]}})
end
""")
    return path

def server_cpu(pid):
    """The server's CPU time so far (user + system, seconds)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2

def start(backend, extra_env=None):
    """Starts the release server on a fresh database of `backend`; returns
    (server, env, tmp, dbname, admin token)."""
    tmp = tempfile.mkdtemp(prefix="keyward-bench-")
    env = dict(os.environ, KEYWARD_LISTEN=f"127.0.0.1:{PORT}", KEYWARD_DATA_DIR=tmp,
               KEYWARD_BOOTSTRAP_PASSWORD=PASSWORD, KEYWARD_LOG_LEVEL="warn",
               KEYWARD_FAILED_VERIFICATIONS_PER_MINUTE="4000000000", KEYWARD_SPA_DIR=os.path.join(tmp, "none"),
               **(extra_env or {}))
    dbname = None
    if backend == "postgres":
        dbname = f"keyward_bench_{random.randrange(1 << 32):08x}"
        subprocess.run(["psql", f"{PG}/postgres", "-qc", f"CREATE DATABASE {dbname}"], check=True)
        env["KEYWARD_DATABASE_URL"] = f"{PG}/{dbname}"
    server = subprocess.Popen([BIN, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = server.stdout.readline()
        while "listening on" not in line:
            if not line:
                raise RuntimeError("the server did not start")
            line = server.stdout.readline()
        token = call("POST", "/v1/auth/login", body={"username": "admin", "password": PASSWORD})["token"]
    except BaseException:
        stop(server, tmp, dbname)
        raise
    return server, env, tmp, dbname, token

def stop(server, tmp, dbname):
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)
    if dbname:
        subprocess.run(["psql", f"{PG}/postgres", "-qc", f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)"], check=False)
    shutil.rmtree(tmp, ignore_errors=True)

def scraper(stop_event, stats):
    """Scrapes /metrics every 5 s until stopped, as Prometheus would."""
    while not stop_event.wait(5):
        req = urllib.request.Request(f"http://127.0.0.1:{PORT}/metrics")
        req.add_header("authorization", f"Bearer {METRICS_TOKEN}")
        with urllib.request.urlopen(req) as r:
            body = r.read()
        stats["scrapes"] += 1
        stats["bytes"] = len(body)
        m = re.search(rb'keyward_verifications_total\{route="/v1/whoami",via="x_api_key",outcome="allowed"\} (\d+)', body)
        stats["allowed"] = int(m.group(1)) if m else 0

def run_backend(backend, rounds, duration, metrics, redis=None, only="abcde", env=None, setup=None):
    """`env`: more server settings; `setup(token)`: called once the keys
    exist, before the warm-up (scripts/bench_webhooks.py adds endpoints)."""
    extra = {"KEYWARD_METRICS_TOKEN": METRICS_TOKEN} if metrics else {}
    extra |= env or {}
    if redis:
        extra |= {"KEYWARD_REDIS_URL": redis, "KEYWARD_REDIS_PREFIX": f"keyward-bench-{random.randrange(1 << 32):08x}"}
    server, env, tmp, dbname, token = start(backend, extra)
    scraping = threading.Event()
    scrapes = {"scrapes": 0, "bytes": 0, "allowed": 0}
    try:
        call("PATCH", "/v1/tenants/1", token, {"key_limit": 2100})
        group = call("POST", "/v1/groups", token, {"name": "Bench", "kind": "tenant_api_key", "permissions": ["customers:read"]})["id"]
        valid = [call("POST", "/v1/api-keys", token, {"name": f"bench {i}", "group_id": group})["secret"] for i in range(1000)]
        metered = call("POST", "/v1/groups", token, {"name": "Metered", "kind": "tenant_api_key", "permissions": ["customers:read"],
                                                      "rate_limit": [{"limit": 1000000, "period_seconds": 1}]})["id"]
        limited = [call("POST", "/v1/api-keys", token, {"name": f"metered {i}", "group_id": metered})["secret"] for i in range(1000)]
        rng = random.Random(7)
        files = {}
        for name, keys in [("valid", valid), ("limited", limited), ("unknown", [forged_key(rng) for _ in range(1000)]),
                           ("malformed", ["sk_live_" + "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(5, 60))) for _ in range(1000)])]:
            path = os.path.join(tmp, name + ".txt")
            with open(path, "w") as f:
                f.write("\n".join(keys) + "\n")
            d = os.path.join(tmp, name); os.makedirs(d)
            files[name] = lua(path, d)
            if name == "valid":
                d = os.path.join(tmp, "none"); os.makedirs(d)
                files["none"] = lua(path, d, header="X-Bench-Nonce")
        if setup:
            setup(token)
        wrk("/v1/whoami", files["valid"], 2)  # warm-up: fills the cache
        wrk("/v1/whoami", files["limited"], 2)
        time.sleep(3)  # lets the warm-up's usage flush pass
        runs = {"a": ("/healthz", "none"), "b": ("/v1/whoami", "valid"),
                "c": ("/v1/whoami", "unknown"), "d": ("/v1/whoami", "malformed"),
                "e": ("/v1/whoami", "limited")}
        runs = {k: v for k, v in runs.items() if k in (set("ae") if redis else set(only) | {"a"})}
        samples = {k: [] for k in runs}
        if metrics:
            threading.Thread(target=scraper, args=(scraping, scrapes), daemon=True).start()
        for i in range(rounds):
            for k in (list(runs) if i % 2 == 0 else list(reversed(runs))):
                path, script = runs[k]
                cpu = server_cpu(server.pid)
                r = wrk(path, files[script], duration)
                r["cpu_us"] = (server_cpu(server.pid) - cpu) / (r["rps"] * duration) * 1e6
                samples[k].append(r)
        scraping.set()
        refused = sum(r["non2xx"] for k in "be" if k in samples for r in samples[k])
        if refused:
            raise RuntimeError(f"valid keys were refused {refused} times")
        res = {k: {m: median([r[m] for r in rs]) for m in ("rps", "p50", "p99", "cpu_us")} | {"all": [r["rps"] for r in rs]}
               for k, rs in samples.items()}
        for k in [k for k in "bcde" if k in samples]:
            res[k]["ratio"] = median([x["rps"] / y["rps"] for x, y in zip(samples[k], samples["a"])])
            res[k]["cpu_ratio"] = median([y["cpu_us"] / x["cpu_us"] for x, y in zip(samples[k], samples["a"])])
        res["scrapes"] = scrapes
        return res
    finally:
        scraping.set()
        stop(server, tmp, dbname)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--duration", type=int, default=2)
    ap.add_argument("--no-metrics", action="store_true", help="leave /metrics off and unscraped (for a binary without them)")
    ap.add_argument("--no-redis", action="store_true", help="skip the pass with the rate limits in Redis")
    ap.add_argument("--only", default="abcde", help="the runs to make (a is always made)")
    args = ap.parse_args()
    labels = {"a": "(a) /healthz, no auth", "b": "(b) whoami, valid keys", "c": "(c) whoami, unknown keys", "d": "(d) whoami, malformed keys",
              "e": "(e) whoami, valid keys with a rate limit"}
    targets = {"b": 0.90, "c": 0.85, "d": 0.95, "e": 0.88}
    ok = True
    passes = [(b, None) for b in args.backends.split(",")]
    if not args.no_redis:
        passes.append(("sqlite", os.environ.get("KEYWARD_REDIS_URL", "redis://127.0.0.1:6379/0")))
    for backend, redis in passes:
        res = run_backend(backend, args.rounds, args.duration, not args.no_metrics, redis, args.only)
        scraped = res["scrapes"]
        metrics = (f"metrics scraped every 5 s: {scraped['scrapes']} scrapes of {scraped['bytes']:,} bytes" if not args.no_metrics
                   else "metrics off")
        title = f"{backend}, rate limits in Redis" if redis else backend
        print(f"\n## {title} (wrk -t2 -c64, {args.rounds} interleaved rounds of {args.duration} s each, medians; 1,000 keys, release build, loopback; {metrics})\n")
        print("| run | requests/s | p50 ms | p99 ms | server CPU µs/request | every round, k requests/s |\n| --- | ---: | ---: | ---: | ---: | --- |")
        for k in [k for k in "abcde" if k in res]:
            r = res[k]
            every = " ".join(f"{x / 1000:.0f}" for x in r["all"])
            print(f"| {labels[k]} | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['cpu_us']:.2f} | {every} |")
        print()
        for k in [k for k in "bcde" if k in res]:
            ratio = res[k]["ratio"]
            target = 0.80 if (redis and k == "e") else targets[k]
            met = ratio >= target
            ok &= met
            print(f"- {k}/a = {ratio:.2f} (median of the per-round ratios; target ≥ {target:.2f}: {'met' if met else 'NOT met'});"
                  f" server CPU per request, a over {k}: {res[k]['cpu_ratio']:.2f}")
    sys.exit(0 if ok else 1)

if __name__ == "__main__":
    main()
