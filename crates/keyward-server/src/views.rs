//! Domain records → API views (never a secret or a digest). All mapping
//! from what the use cases return to the response DTOs lives here.

use crate::app::keys::{KeyDetails, KeyPage};
use crate::app::sessions::SignedIn;
use crate::auth::{Actor, Caller};
use crate::db::{AccessRecord, AuditRecord, KeyGroup, KeyRow, UserRecord};
use crate::error::ApiError;
use crate::verification::VerifyFailure;
use chrono::{DateTime, Utc};
use keyward_core::api::{
    AccessLogEntry, ApiKeyDetails, ApiKeyPage, ApiKeyView, AuditEventView, GroupSummary, GroupView,
    LoginResponse, Me, MeKind, Pagination, QuotaUsage, RateLimitStatus, TenantSummary, TenantView,
    UsageDay, UserView, VerifyResponse,
};
use keyward_core::group::Group;
use keyward_core::permission::PermissionSet;
use keyward_core::ratelimit::RatePolicy;
use keyward_core::tenant::Tenant;
use keyward_core::verify::{Principal, VerifyCode};

use crate::json::json_body_response;

/// A key as listed: `group_name` is its group's name (when it has a group),
/// `effective` what it holds (its group's permissions and its own).
pub fn key_view(row: &KeyRow, group: Option<&KeyGroup>, now: DateTime<Utc>) -> ApiKeyView {
    let k = &row.key;
    let windows = |p: Option<&RatePolicy>| p.map(RatePolicy::to_windows);
    ApiKeyView {
        id: k.key_id.to_string(),
        name: k.name.as_str().to_owned(),
        description: k.description.as_ref().map(|d| d.as_str().to_owned()),
        masked_key: k.masked(),
        status: k.status(now),
        group: k.group_id.map(|id| GroupSummary {
            id,
            name: group.map(|g| g.name.clone()).unwrap_or_default(),
        }),
        permissions: k.permissions.to_strings(),
        effective_permissions: KeyGroup::effective_permissions(group, k).to_strings(),
        ip_allowlist: k.ip_allowlist.to_strings(),
        created_by: k.created_by.clone(),
        created_at: k.created_at,
        updated_at: k.updated_at,
        expires_at: k.expires_at,
        rotated_at: k.rotated_at,
        previous_secret_valid_until: k.previous_in_grace(now).map(|p| p.valid_until),
        rate_limit: windows(k.rate_limit.as_ref()),
        effective_rate_limit: windows(KeyGroup::effective_rate_limit(group, k)),
        revoked_at: k.revoked_at,
        last_used_at: row.last_used_at,
        last_used_from: row.last_used_from.clone(),
    }
}

/// A key as seed 000's REST API shows it: permissions by the catalog's
/// first alias of each (its name when it has none).
pub fn crm_key(
    row: &KeyRow,
    group: Option<&KeyGroup>,
    catalog: &keyward_core::permission::PermissionCatalog,
    now: DateTime<Utc>,
) -> keyward_core::api::CrmApiKey {
    let k = &row.key;
    let aliases = |set: &PermissionSet| {
        set.iter()
            .map(|p| catalog.alias_of(p).to_owned())
            .collect::<Vec<_>>()
    };
    keyward_core::api::CrmApiKey {
        api_key_id: k.key_id.to_string(),
        name: k.name.as_str().to_owned(),
        description: k.description.as_ref().map(|d| d.as_str().to_owned()),
        status: k.status(now),
        created: k.created_at,
        expiry_date: k.expires_at,
        permissions: aliases(&k.permissions),
        effective_permissions: aliases(&KeyGroup::effective_permissions(group, k)),
        masked_key: k.masked(),
        last_used: row.last_used_at,
    }
}

pub fn key_page(p: &KeyPage, page: Pagination, now: DateTime<Utc>) -> ApiKeyPage {
    ApiKeyPage {
        items: p
            .rows
            .iter()
            .map(|r| key_view(r, p.group_of(&r.key), now))
            .collect(),
        page: page.page,
        per_page: page.per_page,
        total: p.total,
        counts: p.counts,
        quota: QuotaUsage {
            used: p.counts.quota_used(),
            limit: p.key_limit,
        },
    }
}

pub fn key_details(d: &KeyDetails, now: DateTime<Utc>) -> ApiKeyDetails {
    let group = d.group.as_ref().map(KeyGroup::from);
    let effective = KeyGroup::effective_permissions(group.as_ref(), &d.row.key);
    ApiKeyDetails {
        api_key: key_view(&d.row, group.as_ref(), now),
        permissions: effective.to_strings(),
        usage: d
            .usage
            .iter()
            .map(|u| UsageDay {
                date: u.day,
                succeeded: u.succeeded,
                denied: u.denied,
            })
            .collect(),
        history: d.history.iter().map(audit_event_view).collect(),
    }
}

pub fn group_view(g: &Group, key_count: u64) -> GroupView {
    GroupView {
        id: g.id,
        name: g.name.clone(),
        description: g.description.clone(),
        kind: g.kind,
        permissions: g.permissions.to_strings(),
        rate_limit: g.rate_limit.as_ref().map(RatePolicy::to_windows),
        key_count,
        created_at: g.created_at,
        updated_at: g.updated_at,
    }
}

pub fn tenant_view(t: &Tenant, keys_used: u64) -> TenantView {
    TenantView {
        id: t.id,
        name: t.name.clone(),
        key_limit: t.quota.limit(),
        keys_used,
        created_at: t.created_at,
    }
}

pub fn user_view(u: &UserRecord) -> UserView {
    UserView {
        id: u.id,
        username: u.username.clone(),
        role: u.role,
        tenant_id: u.tenant_id,
        created_at: u.created_at,
        disabled: u.disabled,
    }
}

pub fn access_entry(r: AccessRecord) -> AccessLogEntry {
    AccessLogEntry {
        id: r.id,
        first_at: r.first_at,
        last_at: r.last_at,
        count: r.count,
        client_ip: r.client_ip,
        outcome: r.outcome,
        detail: r.detail,
        route: r.route,
        via_key_id: r.via_key_id,
    }
}

pub fn audit_event_view(r: &AuditRecord) -> AuditEventView {
    AuditEventView {
        id: r.id,
        at: r.at,
        tenant_id: r.tenant_id,
        actor: r.actor.clone(),
        action: r.action,
        target_type: r.target.as_str().to_owned(),
        target_id: r.target_id.clone(),
        changed_fields: r.changed_fields.clone(),
        client_ip: r.client_ip.clone(),
        request_id: r.request_id.clone(),
    }
}

/// The columns of an audit export, in order.
pub const AUDIT_CSV_HEADER: [&str; 8] = [
    "at",
    "actor",
    "action",
    "target_type",
    "target_id",
    "changed_fields",
    "client_ip",
    "request_id",
];

/// A cell a spreadsheet would not run as a formula: text starting with
/// `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`
/// (an actor is a typed username, and `@` or `-` may start one).
fn csv_cell(s: &str) -> std::borrow::Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}").into()
    } else {
        s.into()
    }
}

/// The audit records as CSV (RFC 4180, with a header row): time in RFC
/// 3339 UTC, changed fields separated by spaces.
pub fn audit_csv(records: &[AuditRecord]) -> Result<Vec<u8>, csv::Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(AUDIT_CSV_HEADER)?;
    for r in records {
        let at = r.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let changed = r.changed_fields.join(" ");
        w.write_record([
            at.as_str(),
            &csv_cell(&r.actor),
            r.action.as_str(),
            r.target.as_str(),
            &csv_cell(r.target_id.as_deref().unwrap_or("")),
            &csv_cell(&changed),
            &csv_cell(r.client_ip.as_deref().unwrap_or("")),
            &csv_cell(r.request_id.as_deref().unwrap_or("")),
        ])?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

/// The answer to a sign-in (the token appears here and in the cookie only).
pub fn login_response(s: SignedIn) -> LoginResponse {
    LoginResponse {
        me: Me {
            kind: MeKind::User,
            user_id: Some(s.user.id),
            username: s.user.username,
            role: Some(s.user.role),
            tenant: TenantSummary {
                id: s.tenant.id,
                name: s.tenant.name,
            },
            csrf_token: Some(s.csrf_token),
            session_expires_at: Some(s.expires_at),
        },
        token: s.token,
        expires_at: s.expires_at,
    }
}

/// A JSON response for the routes integrators call on every request
/// (verification, errors, health): the body is written into one buffer
/// sized for them, and the content type is a static header value, where
/// actix's `json()` grows a string from empty and reparses the media type.
pub fn json_response(
    builder: actix_web::HttpResponseBuilder,
    value: &impl serde::Serialize,
) -> actix_web::HttpResponse {
    let mut body = Vec::with_capacity(512);
    match serde_json::to_writer(&mut body, value) {
        Ok(()) => json_body_response(builder, body),
        Err(e) => {
            use actix_web::ResponseError;
            crate::error::ApiError::internal(e).error_response()
        }
    }
}

/// Who is signed in, and the tenant the request acts in.
pub fn me_view(caller: &Caller) -> Me {
    let tenant = TenantSummary {
        id: caller.tenant_id,
        name: caller.tenant_name.clone(),
    };
    match &caller.actor {
        Actor::User {
            id,
            username,
            role,
            csrf_token,
            expires_at,
            ..
        } => Me {
            kind: MeKind::User,
            user_id: Some(*id),
            username: username.clone(),
            role: Some(*role),
            tenant,
            csrf_token: Some(csrf_token.clone()),
            session_expires_at: Some(*expires_at),
        },
        Actor::ApiKey { name, .. } => Me {
            kind: MeKind::ApiKey,
            user_id: None,
            username: name.clone(),
            role: None,
            tenant,
            csrf_token: None,
            session_expires_at: None,
        },
    }
}

/// The verdict of `POST /v1/keys/verify` (an internal failure stays an error).
pub fn verify_response(
    verdict: Result<Principal, VerifyFailure>,
) -> Result<VerifyResponse, ApiError> {
    let denied = |code| VerifyResponse {
        valid: false,
        code,
        key_id: None,
        tenant_id: None,
        permissions: vec![],
        expires_at: None,
        rate_limit: None,
    };
    Ok(match verdict {
        Ok(p) => VerifyResponse {
            valid: true,
            code: VerifyCode::Valid,
            key_id: Some(p.key_id.to_string()),
            tenant_id: Some(p.tenant_id),
            permissions: p.permissions.to_strings(),
            expires_at: p.expires_at,
            rate_limit: p.rate_limit.as_ref().map(RateLimitStatus::of),
        },
        Err(VerifyFailure::Denied(reason)) => denied(reason.public_code()),
        Err(VerifyFailure::Throttled { .. }) => denied(VerifyCode::RateLimited),
        // The key is valid: its id says which budget is spent.
        Err(VerifyFailure::RateLimited(v)) => VerifyResponse {
            rate_limit: Some(RateLimitStatus::of(&v)),
            ..denied(VerifyCode::RateLimited)
        },
        Err(f @ (VerifyFailure::Internal(_) | VerifyFailure::Pending(_))) => {
            return Err(f.into());
        }
    })
}

/// A webhook endpoint (never its secret).
pub fn endpoint_view(e: &crate::db::EndpointRecord) -> keyward_core::api::WebhookEndpointView {
    keyward_core::api::WebhookEndpointView {
        id: e.id,
        url: e.url.clone(),
        description: e.description.clone(),
        events: e.events.events().to_vec(),
        enabled: e.enabled,
        disabled_reason: e.disabled_reason.clone(),
        failure_run: e.failure_run,
        created_at: e.created_at,
        updated_at: e.updated_at,
    }
}

/// A delivery and its latest attempt.
pub fn delivery_view(
    d: &crate::db::DeliveryRecord,
) -> Result<keyward_core::api::WebhookDeliveryView, ApiError> {
    use keyward_core::api::DeliveryStatus;
    let corrupt = |what: &str| ApiError::internal(format!("{what} of delivery {}", d.id));
    Ok(keyward_core::api::WebhookDeliveryView {
        id: d.id,
        endpoint_id: d.endpoint_id,
        message_id: d.message_id.clone(),
        event_type: keyward_core::webhook::WebhookEvent::parse(&d.event_type)
            .ok_or_else(|| corrupt("event type"))?,
        key_id: d.key_id.clone(),
        status: d.status,
        attempts: d.attempts,
        next_attempt_at: (d.status == DeliveryStatus::Pending).then_some(d.next_attempt_at),
        last_attempt_at: d.last_attempt_at,
        last_status: d.last_status,
        last_latency_ms: d.last_latency_ms,
        last_response: d.last_response.clone(),
        last_error: d.last_error.clone(),
        created_at: d.created_at,
        delivered_at: d.delivered_at,
        payload: serde_json::from_str(&d.payload).map_err(|_| corrupt("payload"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use keyward_core::api::AuditAction;
    use keyward_core::audit::AuditTarget;

    #[test]
    fn audit_csv_quotes_and_defuses_formulas() {
        let r = AuditRecord {
            id: 1,
            at: Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).unwrap(),
            tenant_id: Some(1),
            actor: "user:=cmd|' /C calc'!A0".into(),
            action: AuditAction::ApiKeyUpdated,
            target: AuditTarget::ApiKey,
            target_id: Some("AbCdEfGh1234".into()),
            changed_fields: vec!["name".into(), "ip_allowlist".into()],
            client_ip: None,
            request_id: Some("-rid".into()),
        };
        let attempt = AuditRecord {
            actor: "@SUM(1+1)".into(),
            action: AuditAction::LoginFailed,
            target: AuditTarget::Session,
            target_id: None,
            changed_fields: vec![],
            client_ip: Some("unknown".into()),
            request_id: None,
            ..r.clone()
        };
        let csv = String::from_utf8(audit_csv(&[r, attempt]).unwrap()).unwrap();
        assert_eq!(
            csv,
            "at,actor,action,target_type,target_id,changed_fields,client_ip,request_id\n\
             2026-12-02T10:00:00.000Z,user:=cmd|' /C calc'!A0,api_key_updated,api_key,AbCdEfGh1234,name ip_allowlist,,'-rid\n\
             2026-12-02T10:00:00.000Z,'@SUM(1+1),login_failed,session,,,unknown,\n"
        );
        assert_eq!(csv_cell("-1+1"), "'-1+1");
        assert_eq!(csv_cell("a,b\"c"), "a,b\"c", "quoting is the writer's");
    }
}
