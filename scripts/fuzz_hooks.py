"""schemathesis hooks for scripts/fuzz_api.py.

Two rules of the contract depend on state, which no schema can say; in
requests generated as valid (positive mode) the hooks keep them true:
- an expiry lies in the future: a generated `expires_at` (`expiry_date`
  in seed 000's REST API) gets a year
  after this one (its month, day, time and offset are kept);
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
        group = body.get("group_id")
        if isinstance(group, (int, float)) and not isinstance(group, bool):
            body["group_id"] = KEY_GROUP_ID
            for name in list(case.headers or {}):
                if name.lower() == "x-keyward-tenant":
                    case.headers[name] = TENANT_ID
