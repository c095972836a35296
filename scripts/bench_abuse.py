#!/usr/bin/env python3
"""Abuse benchmark: the release server under hostile traffic, per backend.

  (a) 1,000 concurrent failed sign-ins from 100 addresses (X-Forwarded-For
      through the trusted proxy 127.0.0.1), in two waves:
        a1  all at one username (admin): 10 attempts from each address;
        a2  password spraying: 10 different usernames from each address.
      Reports how many reached the password hash (answered 401) against the
      most the sign-in policy lets through (SignInPolicy::most_hashed), the
      rest (429), and the server's peak RSS (VmHWM) over both waves, which
      must stay under 400 MB.
  (b) A valid key served from one address while unknown keys arrive from
      the same address at about 5,000 a second (default failure throttle):
      the valid key's success rate (must be 100 %) and its p99 latency,
      beside its p99 over the same time without the flood.

Exits non-zero when a bound does not hold. Writes the figures as JSON to
--json if given. See docs/SECURITY.md.
Usage: bench_abuse.py [--backends sqlite,postgres] [--seconds 10]
(KEYWARD_BENCH_BIN=path benchmarks another server binary.)
"""
import argparse, asyncio, json, os, random, re, resource, shutil, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_verify as bv  # noqa: E402  (key forging, login call, server CPU)

PORT = 18282
PASSWORD = "benchmark password 1"
RSS_LIMIT_MB = 400
# SignInPolicy::default(): per (username, address), per address.
PER_USER_ADDRESS, PER_ADDRESS = 5, 50


def most_hashed(addresses, usernames):
    return addresses * min(usernames * PER_USER_ADDRESS, PER_ADDRESS)


def rss_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M).group(1))


async def login(addr, username):
    body = json.dumps({"username": username, "password": "not the password"}).encode()
    r, w = await asyncio.open_connection("127.0.0.1", PORT)
    w.write(
        b"POST /v1/auth/login HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nX-Forwarded-For: " + addr.encode() +
        b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    await w.drain()
    status = int((await r.readline()).split()[1])
    w.close()
    return status


async def wave(attempts):
    """All attempts at once (each its own connection)."""
    return await asyncio.gather(*(login(a, u) for a, u in attempts))


def sign_in_flood(pid):
    addresses = [f"198.51.{100 + i // 250}.{i % 250 + 1}" for i in range(100)]
    out = {"rss_before_mb": rss_kb(pid, "VmRSS") / 1024}
    waves = {
        "a1": ([(a, "admin") for a in addresses for _ in range(10)], most_hashed(100, 1)),
        "a2": ([(a, f"user{j}") for a in addresses for j in range(10)], most_hashed(100, 10)),
    }
    for name, (attempts, limit) in waves.items():
        random.Random(5).shuffle(attempts)
        t0 = time.perf_counter()
        statuses = asyncio.run(wave(attempts))
        other = [s for s in statuses if s not in (401, 429)]
        out[name] = {"attempts": len(attempts), "hashed": statuses.count(401),
                     "refused": statuses.count(429), "other": len(other),
                     "limit": limit, "seconds": time.perf_counter() - t0}
    out["peak_rss_mb"] = rss_kb(pid, "VmHWM") / 1024
    return out


def wrk(path, script, seconds, conns):
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", script, f"http://127.0.0.1:{PORT}{path}"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def wrk_result(proc):
    out = proc.communicate()[0]
    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {"requests": total, "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "socket_errors": errors.group(1) if errors else "",
            "p50_ms": pct(50), "p99_ms": pct(99)}


def paced_script(tmp, name, keys, delay_ms):
    """A wrk script sending a random key of `keys`, each connection pausing
    `delay_ms` between requests (wrk's latency excludes the pause)."""
    keys_file = os.path.join(tmp, name + ".txt")
    with open(keys_file, "w") as f:
        f.write("\n".join(keys) + "\n")
    path = os.path.join(tmp, name + ".lua")
    with open(path, "w") as f:
        f.write(f"""local keys = {{}}
for line in io.lines("{keys_file}") do keys[#keys + 1] = line end
math.randomseed(os.time() + tonumber(tostring({{}}):sub(8), 16))
request = function()
  return wrk.format("GET", nil, {{["X-API-Key"] = keys[math.random(#keys)]}})
end
delay = function() return {delay_ms} end
""")
    return path


def key_flood(tmp, token, seconds):
    group = bv.call("POST", "/v1/groups", token, {"name": "Abuse", "kind": "tenant_api_key",
                                                  "permissions": ["customers:read"]})["id"]
    valid = bv.call("POST", "/v1/api-keys", token, {"name": "valid under flood", "group_id": group})["secret"]
    rng = random.Random(11)
    valid_script = paced_script(tmp, "valid", [valid], 4)      # 2 connections: ~500 requests/s
    flood_script = paced_script(tmp, "unknown", [bv.forged_key(rng) for _ in range(5000)], 2)
    wrk_result(wrk("/v1/whoami", valid_script, 2, 2))         # warm-up
    alone = wrk_result(wrk("/v1/whoami", valid_script, seconds, 2))
    flood = wrk("/v1/whoami", flood_script, seconds + 2, 13)  # ~13 × 400/s: about 5,000/s
    time.sleep(1)
    during = wrk_result(wrk("/v1/whoami", valid_script, seconds, 2))
    return {"alone": alone, "during_flood": during, "flood": wrk_result(flood)}


def run_backend(backend, seconds):
    tmp = tempfile.mkdtemp(prefix="keyward-abuse-")
    bv.PORT = PORT
    env = dict(os.environ, KEYWARD_LISTEN=f"127.0.0.1:{PORT}", KEYWARD_DATA_DIR=tmp,
               KEYWARD_BOOTSTRAP_PASSWORD=PASSWORD, KEYWARD_LOG_LEVEL="error",
               KEYWARD_TRUSTED_PROXIES='["127.0.0.1"]', KEYWARD_SPA_DIR=os.path.join(tmp, "none"))
    dbname = None
    if backend == "postgres":
        dbname = f"keyward_abuse_{random.randrange(1 << 32):08x}"
        subprocess.run(["psql", f"{bv.PG}/postgres", "-qc", f"CREATE DATABASE {dbname}"], check=True)
        env["KEYWARD_DATABASE_URL"] = f"{bv.PG}/{dbname}"
    server = subprocess.Popen([bv.BIN, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = server.stdout.readline()
        while "listening on" not in line:
            if not line:
                raise RuntimeError("the server did not start")
            line = server.stdout.readline()
        token = bv.call("POST", "/v1/auth/login", body={"username": "admin", "password": PASSWORD})["token"]
        res = {"sign_in": sign_in_flood(server.pid)}
        res["keys"] = key_flood(tmp, token, seconds)
        return res
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        if dbname:
            subprocess.run(["psql", f"{bv.PG}/postgres", "-qc", f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)"], check=False)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--backends", default="sqlite,postgres")
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--json")
    args = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    failures, all_res = [], {}
    for backend in args.backends.split(","):
        r = all_res[backend] = run_backend(backend, args.seconds)
        s, k = r["sign_in"], r["keys"]
        print(f"\n== {backend} ==")
        print(f"(a) sign-in: RSS before {s['rss_before_mb']:.0f} MB, peak {s['peak_rss_mb']:.0f} MB (limit {RSS_LIMIT_MB})")
        for w in ("a1", "a2"):
            x = s[w]
            print(f"    {w}: {x['attempts']} attempts, {x['hashed']} hashed (policy limit {x['limit']}), "
                  f"{x['refused']} refused, {x['other']} other, {x['seconds']:.1f} s")
            if x["hashed"] > x["limit"] or x["other"]:
                failures.append(f"{backend} {w}: {x}")
        if s["peak_rss_mb"] >= RSS_LIMIT_MB:
            failures.append(f"{backend}: peak RSS {s['peak_rss_mb']:.0f} MB")
        a, d, f = k["alone"], k["during_flood"], k["flood"]
        ok = 100.0 * (d["requests"] - d["non2xx"]) / max(d["requests"], 1)
        print(f"(b) unknown keys: {f['rps']:.0f}/s ({f['non2xx']} of {f['requests']} refused)")
        print(f"    valid key alone:  {a['rps']:.0f}/s, p50 {a['p50_ms']:.2f} ms, p99 {a['p99_ms']:.2f} ms, {a['non2xx']} refused")
        print(f"    valid key during: {d['rps']:.0f}/s, p50 {d['p50_ms']:.2f} ms, p99 {d['p99_ms']:.2f} ms, "
              f"success {ok:.2f} % ({d['non2xx']} refused of {d['requests']})")
        if d["non2xx"] or a["non2xx"] or d["socket_errors"]:
            failures.append(f"{backend}: the valid key was refused under the flood: {d}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(all_res, f, indent=2)
    if failures:
        print("\nFAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()
