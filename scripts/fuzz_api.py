#!/usr/bin/env python3
"""Fuzzes the REST API against its own OpenAPI document with schemathesis,
as a new integrator's tooling would: the real server on a fresh SQLite
database, the document it serves, a super user's bearer token, every phase
(examples, coverage, fuzzing, stateful), every check, a fixed seed and a
time budget. Exits non-zero on any failure.

The server runs with the throttles of failed attempts raised: the fuzzer
sends thousands of refused requests from one address, which would
otherwise answer everything after the first few with 429 and leave the
operations untested (429 itself is documented and tested in the API suite).
Webhook deliveries may reach any address: which addresses a webhook URL
may name depends on the deployment (`webhook_allow_networks`), which no
schema can say, and the default refuses loopback and private literals
that the URL pattern admits (the API suite tests that refusal).
Two operations would end the fuzzer's own session and are left out or
steered (scripts/fuzz_hooks.py): logging out, and resetting the signed-in
super user's own password. The hooks also keep the rules no schema can
say true in requests generated as valid: expiries in the future, group
ids naming the tenant's key group, rate-limit windows of distinct periods
with a burst within the limit, edits that leave a key granted something. One check is left out:
use_after_free, which expects a resource gone after a successful DELETE;
Keyward's DELETE revokes a key (seed 001's Revoke, seed 000's REST API),
which stays readable with status revoked by design (deletion is
POST .../delete).

Usage: fuzz_api.py [--max-time SECONDS] [--seed N] [--bin PATH]
Needs schemathesis (pinned in tests/fuzz/requirements.txt; scripts/setup.sh
--test installs it into target/fuzz-venv) and a built server (`cargo build -p keyward-server`).
"""
import argparse, json, os, shutil, signal, subprocess, sys, tempfile, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PORT = 18095
PASSWORD = "fuzzing-password-0123456789"


def get(path, token):
    req = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}",
                                 headers={"authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def login():
    """The super user's bearer token and user id."""
    req = urllib.request.Request(
        f"http://127.0.0.1:{PORT}/v1/auth/login",
        data=json.dumps({"username": "admin", "password": PASSWORD}).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req) as r:
        body = json.load(r)
    return body["token"], body["me"]["user_id"], body["me"]["tenant"]["id"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-time", type=int, default=240)
    ap.add_argument("--seed", type=int, default=20261203)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "debug", "keyward"))
    ap.add_argument("--st", default=os.path.join(ROOT, "target", "fuzz-venv", "bin", "st"))
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="keyward-fuzz-")
    many = "1000000000"
    env = dict(
        os.environ,
        KEYWARD_LISTEN=f"127.0.0.1:{PORT}",
        KEYWARD_DATA_DIR=tmp,
        KEYWARD_BOOTSTRAP_PASSWORD=PASSWORD,
        KEYWARD_LOG_LEVEL="warn",
        KEYWARD_SPA_DIR=os.path.join(tmp, "no-spa"),
        KEYWARD_FAILED_VERIFICATIONS_PER_MINUTE=many,
        KEYWARD_FAILED_LOGINS_PER_WINDOW=many,
        KEYWARD_FAILED_LOGINS_PER_ADDRESS=many,
        KEYWARD_FAILED_LOGINS_PER_USERNAME=many,
        KEYWARD_WEBHOOK_ALLOW_NETWORKS='["0.0.0.0/0", "::/0"]',
    )
    server = subprocess.Popen([args.bin, "serve"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        line = server.stdout.readline()
        while "listening on" not in line:
            if not line:
                sys.exit("the server did not start")
            line = server.stdout.readline()
        token, admin_id, tenant_id = login()
        groups = get("/v1/groups", token)["items"]
        key_group = next(g["id"] for g in groups if g["kind"] == "tenant_api_key")
        report = os.path.join(ROOT, "target", "fuzz-report")
        shutil.rmtree(report, ignore_errors=True)
        cmd = [
            args.st, "run", f"http://127.0.0.1:{PORT}/openapi.json",
            "--header", f"Authorization: Bearer {token}",
            "--checks", "all",
            "--exclude-checks", "use_after_free",
            "--phases", "examples,coverage,fuzzing,stateful",
            "--exclude-operation-id", "logout",
            "--seed", str(args.seed),
            "--max-time", str(args.max_time),
            "--workers", "1",
            "--no-color",
            "--report", "junit",
            "--report-dir", report,
        ]
        hooks = dict(env, SCHEMATHESIS_HOOKS="fuzz_hooks", KEYWARD_FUZZ_ADMIN_ID=str(admin_id),
                     KEYWARD_FUZZ_KEY_GROUP_ID=str(key_group),
                     KEYWARD_FUZZ_TENANT_ID=str(tenant_id),
                     PYTHONPATH=os.path.join(ROOT, "scripts"))
        return subprocess.run(cmd, env=hooks, cwd=tmp).returncode
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
