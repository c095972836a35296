#!/usr/bin/env python3
"""Instructions per request (callgrind) for one server binary: /healthz and
whoami with valid, unknown and malformed keys and valid keys with a rate
limit, on one worker, SQLite (CALLGRIND_KEEP=DIR keeps the profiles).
Instruction counts do not depend on what else the machine is doing, so two
builds can be compared on a busy machine (docs/VERIFICATION.md).

Usage: callgrind_verify.py BINARY PORT [REQUESTS_PER_KIND=400]
Prints instructions per request of each kind and the difference to /healthz."""
import http.client, json, os, random, subprocess, sys, tempfile, time, zlib, glob, re
BIN = sys.argv[1]; PORT = int(sys.argv[2]); N = int(sys.argv[3]) if len(sys.argv) > 3 else 400
A = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
def b62(n, w):
    o = []
    for _ in range(w): o.append(A[n % 62]); n //= 62
    return "".join(reversed(o))
def forged(r):
    body = "sk_live_" + "".join(r.choice(A) for _ in range(12)) + "_" + "".join(r.choice(A) for _ in range(28))
    return body + b62(zlib.crc32(body.encode()), 6)
tmp = tempfile.mkdtemp(prefix="cg-")
env = dict(os.environ, KEYWARD_LISTEN=f"127.0.0.1:{PORT}", KEYWARD_DATA_DIR=tmp, KEYWARD_BOOTSTRAP_PASSWORD="benchmark password 1",
           KEYWARD_LOG_LEVEL="warn", KEYWARD_FAILED_VERIFICATIONS_PER_MINUTE="4000000000", KEYWARD_WORKERS="1",
           KEYWARD_CACHE_TTL_SECONDS="3600", KEYWARD_SPA_DIR=os.path.join(tmp, "none"))
out = os.path.join(tmp, "cg.out")
srv = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}", BIN, "serve"],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
line = srv.stdout.readline()
while "listening on" not in line:
    if not line: raise SystemExit("no start")
    line = srv.stdout.readline()
c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=600)
def call(m, p, tok=None, body=None, hdr=None):
    h = {"content-type": "application/json"}
    if tok: h["authorization"] = f"Bearer {tok}"
    if hdr: h.update(hdr)
    c.request(m, p, body=None if body is None else json.dumps(body), headers=h)
    r = c.getresponse(); d = r.read()
    return r.status, (json.loads(d) if d else None)
tok = call("POST", "/v1/auth/login", body={"username": "admin", "password": "benchmark password 1"})[1]["token"]
g = call("POST", "/v1/groups", tok, {"name": "Bench", "kind": "tenant_api_key", "permissions": ["customers:read"]})[1]["id"]
call("PATCH", "/v1/tenants/1", tok, {"key_limit": 100})
valid = [call("POST", "/v1/api-keys", tok, {"name": f"k{i}", "group_id": g})[1]["secret"] for i in range(8)]
m = call("POST", "/v1/groups", tok, {"name": "Metered", "kind": "tenant_api_key", "permissions": ["customers:read"],
                                     "rate_limit": [{"limit": 1000000, "period_seconds": 1}]})[1]["id"]
limited = [call("POST", "/v1/api-keys", tok, {"name": f"m{i}", "group_id": m})[1]["secret"] for i in range(8)]
r = random.Random(7)
sets = {"a": ("/healthz", ["x"] * 50, "X-Bench-Nonce"), "b": ("/v1/whoami", valid, "X-API-Key"),
        "c": ("/v1/whoami", [forged(r) for _ in range(50)], "X-API-Key"),
        "d": ("/v1/whoami", ["sk_live_" + "".join(r.choice(A) for _ in range(r.randrange(5, 60))) for _ in range(50)], "X-API-Key"),
        "e": ("/v1/whoami", limited, "X-API-Key")}
for k, (p, keys, h) in sets.items():  # warm-up
    for key in keys: call("GET", p, hdr={h: key})
time.sleep(3)
subprocess.run(["callgrind_control", "-i", "on", str(srv.pid)], check=True, capture_output=True)
res = {}
for k, (p, keys, h) in sets.items():
    subprocess.run(["callgrind_control", "-z", str(srv.pid)], check=True, capture_output=True)
    for i in range(N): call("GET", p, hdr={h: keys[i % len(keys)]})
    subprocess.run(["callgrind_control", "-d", k, str(srv.pid)], check=True, capture_output=True)
    time.sleep(0.5)
srv.terminate(); srv.wait()
import shutil
keep = os.environ.get("CALLGRIND_KEEP")
if keep:
    os.makedirs(keep, exist_ok=True)
    for f in glob.glob(out + "*"): shutil.copy(f, keep)
for f in sorted(glob.glob(out + "*")):
    s = open(f, errors="replace").read()
    m = re.search(r"^desc: Trigger: dump (\w)", s, re.M)
    t = re.search(r"^(?:summary|totals): (\d+)", s, re.M)
    if m and t: res[m.group(1)] = int(t.group(1)) / N
print(json.dumps({k: round(v) for k, v in sorted(res.items())}))
shutil.rmtree(tmp, ignore_errors=True)
a = res.get("a")
if a: print(" ".join(f"{k}-a={res[k]-a:+.0f}" for k in "bcde" if k in res))
