"""schemathesis hooks for scripts/fuzz_api.py.

Some rules of the contract depend on state or relate values, which no
schema can say; in
requests generated as valid (positive mode) the hooks keep them true:
- an expiry lies in the future: a generated `expires_at` (`expiry_date`
  in seed 000's REST API) gets a year
  after this one (its month, day, time and offset are kept);
- a rate limit's windows have distinct periods, each burst within its
  limit (see valid_windows);
- a key keeps a grant: an edit that removes a key's group or its own
  permissions gives it the other (see keep_granted);
- a `group_id` names an existing authorization group of kind
  `tenant_api_key` of the tenant: a generated one is replaced by such a
  group (scripts/fuzz_api.py passes its id), in its tenant (the
  `X-Keyward-Tenant` header, when sent, names that tenant). Requests
  generated as invalid are sent as generated.

Resetting a user's password ends that user's sessions, the fuzzer's own
included when the user is the signed-in super user: every request after it
would be 401 and test nothing. Such a request is sent for a user id that
does not exist instead (404, documented)."""
import datetime
import os
import re

import schemathesis

ADMIN_ID = int(os.environ.get("KEYWARD_FUZZ_ADMIN_ID", "1"))
KEY_GROUP_ID = int(os.environ.get("KEYWARD_FUZZ_KEY_GROUP_ID", "1"))
TENANT_ID = os.environ.get("KEYWARD_FUZZ_TENANT_ID", "1")
YEAR = re.compile(r"^(\s*)([0-9]{4})(?=-)")


def future(expiry):
    def year(m):
        y = datetime.date.today().year + 1 + int(m.group(2)) % 5000
        return m.group(1) + str(y)
    return YEAR.sub(year, expiry)


def valid_windows(windows):
    """A rate limit's windows have distinct periods and a burst within the
    limit: a generated list keeps its first window of each period, with
    its burst at most its limit."""
    seen, kept = set(), []
    for w in windows:
        if not isinstance(w, dict) or w.get("period_seconds") in seen:
            continue
        seen.add(w.get("period_seconds"))
        limit, burst = w.get("limit"), w.get("burst")
        if isinstance(limit, (int, float)) and isinstance(burst, (int, float)) and burst > limit:
            w["burst"] = limit
        kept.append(w)
    return kept


def keep_granted(body):
    """An edit must leave a key granted something (its group or permissions
    of its own), which depends on what the key has now: an edit that would
    take away the one it has keeps the other instead."""
    if "group_id" in body and body["group_id"] is None and not body.get("permissions"):
        body["permissions"] = ["admin"]
    if body.get("permissions") == [] and not isinstance(body.get("group_id"), (int, float)):
        body["group_id"] = KEY_GROUP_ID


@schemathesis.hook
def before_call(ctx, case, kwargs):
    params = case.path_parameters or {}
    if case.operation.path.endswith("/reset-password") and str(params.get("user_id")) == str(ADMIN_ID):
        params["user_id"] = 0
    body = case.body
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if positive and isinstance(body, dict):
        for field in ("expires_at", "expiry_date"):
            if isinstance(body.get(field), str):
                body[field] = future(body[field])
        if isinstance(body.get("rate_limit"), list):
            body["rate_limit"] = valid_windows(body["rate_limit"])
        if case.method.upper() == "PATCH" and case.operation.path.startswith("/v1/api-keys/"):
            keep_granted(body)
        group = body.get("group_id")
        if isinstance(group, (int, float)) and not isinstance(group, bool):
            body["group_id"] = KEY_GROUP_ID
            for name in list(case.headers or {}):
                if name.lower() == "x-keyward-tenant":
                    case.headers[name] = TENANT_ID
