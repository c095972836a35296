//! The REST API: one module per resource, one function per action. Handlers
//! parse the request, call one use case (`app`), and render the DTO (`views`).

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod crm;
pub mod groups;
pub mod health;
pub mod tenants;
pub mod verify;
pub mod webhooks;

use crate::verification::KeyAuthConfig;
use keyward_core::permission::{Permission, PermissionCatalog};
use keyward_core::ratelimit::RateWindow;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Keyward API",
        description = "Multi-tenant API key management. Errors use one envelope: \
            `{\"error\": {\"code\", \"message\", \"field\"}}`. See docs/API.md.",
        version = "1.0.0"
    ),
    modifiers(&SecuritySchemes),
    // Enums the list's query parameters refer to (utoipa references a
    // parameter's schema without adding it to the components).
    components(schemas(
        keyward_core::status::StatusFilter,
        keyward_core::status::ExpirationState,
        keyward_core::api::keys::SortField,
        keyward_core::api::keys::SortOrder,
    )),
    tags(
        (name = "auth", description = "Admin sign-in"),
        (name = "api-keys", description = "Generate, list, edit, rotate and revoke API keys"),
        (name = "groups", description = "Authorization groups and the permission catalog"),
        (name = "tenants", description = "Tenants, key limits and users (super users)"),
        (name = "audit", description = "Audit events"),
        (name = "webhooks", description = "Signed webhooks: endpoints, deliveries, expiry notices (docs/WEBHOOKS.md)"),
        (name = "verification", description = "Key verification for integrators and other services"),
        (name = "health", description = "Liveness and readiness"),
        (name = "crm", description = "Seed 000's REST API as written there (`/crm/api-keys`), for existing scripts: the same use cases as `/v1`, with its names"),
    )
)]
pub struct ApiDoc;

impl ApiDoc {
    /// The document's base (info, tags, security schemes); routes add their paths.
    pub fn openapi_doc() -> utoipa::openapi::OpenApi {
        <Self as OpenApi>::openapi()
    }
}

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("Session token from POST /v1/auth/login"))
                    .build(),
            ),
        );
        c.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "Session cookie set by login (named __Host-keyward_session over HTTPS); \
                 writes also need the X-CSRF-Token header",
            ))),
        );
        c.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                crate::verification::API_KEY_HEADER,
                "An API key; management routes need the api_keys:manage permission",
            ))),
        );
    }
}

/// Registers every documented route (used by the server and by the OpenAPI generator).
pub fn configure(cfg: &mut ServiceConfig) {
    // The integrators' hot path sits at the top: the router tries routes in order.
    cfg.service(health::healthz)
        .service(verify::whoami)
        .service(health::readyz)
        .service(
            scope::scope("/v1")
                .service(auth::login)
                .service(auth::logout)
                .service(auth::me)
                .service(api_keys::list_api_keys)
                .service(api_keys::create_api_key)
                .service(api_keys::get_api_key)
                .service(api_keys::get_api_key_access_log)
                .service(api_keys::update_api_key)
                .service(api_keys::rotate_api_key)
                .service(api_keys::revoke_api_key)
                .service(api_keys::delete_api_key)
                .service(groups::list_groups)
                .service(groups::create_group)
                .service(groups::get_group)
                .service(groups::update_group)
                .service(groups::delete_group)
                .service(groups::list_permissions)
                .service(tenants::list_tenants)
                .service(tenants::create_tenant)
                .service(tenants::get_tenant)
                .service(tenants::update_tenant)
                .service(tenants::list_users)
                .service(tenants::create_user)
                .service(tenants::update_user)
                .service(tenants::reset_user_password)
                .service(audit::list_audit_events)
                .service(audit::export_audit_events)
                .service(webhooks::list_webhooks)
                .service(webhooks::list_webhook_events)
                .service(webhooks::create_webhook)
                .service(webhooks::get_webhook)
                .service(webhooks::update_webhook)
                .service(webhooks::delete_webhook)
                .service(webhooks::rotate_webhook_secret)
                .service(webhooks::test_webhook)
                .service(webhooks::list_webhook_deliveries)
                .service(webhooks::redeliver_webhook)
                .service(
                    scope::scope("/keys")
                        .app_data(KeyAuthConfig::require([Permission::API_KEYS_VERIFY]))
                        .service(verify::verify_api_key),
                ),
        )
        .service(
            scope::scope("/crm")
                .service(crm::crm_list_api_keys)
                .service(crm::crm_create_api_key)
                .service(crm::crm_update_api_key)
                .service(crm::crm_revoke_api_key),
        );
}

/// The OpenAPI document of the routes registered by [`configure`], for
/// the default permission catalog (the committed document; a deployment
/// serves its own catalog's permission names).
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa_actix_web::AppExt;
    let (_, mut api) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi_doc())
        .configure(configure)
        .split_for_parts();
    complete_document(&mut api, &PermissionCatalog::default());
    api
}

/// What the route annotations leave out of the document: the statuses
/// and headers common to every operation of a kind, and request examples.
/// Applied to the served document and to the generated one alike.
pub fn complete_document(api: &mut utoipa::openapi::OpenApi, catalog: &PermissionCatalog) {
    document_common_responses(api);
    document_request_examples(api);
    document_text_patterns(api);
    document_permission_names(api, catalog);
    document_grant_rule(api);
}

/// A new key must be granted something: a group, permissions of its own, or
/// both (`Invalid::NoGrant`). utoipa's object schema has no `anyOf` field,
/// so the keyword goes in beside the object's own (its flattened
/// extensions), which is where JSON Schema reads it.
fn document_grant_rule(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{RefOr, Schema};
    let Some(RefOr::T(Schema::Object(o))) = api
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut("CreateApiKeyRequest"))
    else {
        return;
    };
    let rule = serde_json::json!([
        { "required": ["group_id"], "properties": { "group_id": { "type": "integer" } } },
        { "required": ["permissions"], "properties": { "permissions": { "minItems": 1 } } },
    ]);
    o.extensions
        .get_or_insert_with(Default::default)
        .insert("anyOf".to_owned(), rule);
}

/// The permissions a group or a key may be given: the deployment's catalog.
fn document_permission_names(api: &mut utoipa::openapi::OpenApi, catalog: &PermissionCatalog) {
    let names: Vec<serde_json::Value> = catalog
        .entries()
        .iter()
        .map(|e| e.permission.as_str().into())
        .collect();
    // Seed 000's REST API also takes the catalog's aliases.
    let names_and_aliases: Vec<serde_json::Value> = catalog
        .entries()
        .iter()
        .flat_map(|e| std::iter::once(&e.permission).chain(&e.aliases))
        .map(|p| p.as_str().into())
        .collect();
    // Webhook filters name the catalog's events, test events aside.
    let subscribable: Vec<serde_json::Value> = keyward_core::webhook::WebhookEvent::ALL
        .into_iter()
        .filter(|e| *e != keyward_core::webhook::WebhookEvent::Test)
        .map(|e| e.as_str().into())
        .collect();
    for (schema, field, names) in [
        ("CreateGroupRequest", "permissions", &names),
        ("UpdateGroupRequest", "permissions", &names),
        ("CreateApiKeyRequest", "permissions", &names),
        ("UpdateApiKeyRequest", "permissions", &names),
        ("CrmCreateApiKeyRequest", "permissions", &names_and_aliases),
        ("CrmUpdateApiKeyRequest", "permissions", &names_and_aliases),
        ("CreateWebhookRequest", "events", &subscribable),
        ("UpdateWebhookRequest", "events", &subscribable),
    ] {
        if let Some(o) = property(api, schema, field).and_then(string_schema) {
            o.enum_values = Some(names.clone());
        }
    }
}

/// A property of a component schema.
fn property<'a>(
    api: &'a mut utoipa::openapi::OpenApi,
    schema: &str,
    field: &str,
) -> Option<&'a mut utoipa::openapi::RefOr<utoipa::openapi::Schema>> {
    use utoipa::openapi::{RefOr, Schema};
    match api.components.as_mut()?.schemas.get_mut(schema)? {
        RefOr::T(Schema::Object(o)) => o.properties.get_mut(field),
        _ => None,
    }
}

/// The string schema of a string property, or of an array property's items.
fn string_schema(
    schema: &mut utoipa::openapi::RefOr<utoipa::openapi::Schema>,
) -> Option<&mut utoipa::openapi::schema::Object> {
    use utoipa::openapi::schema::ArrayItems;
    use utoipa::openapi::{RefOr, Schema};
    match schema {
        RefOr::T(Schema::Object(o)) => Some(o),
        RefOr::T(Schema::Array(a)) => match &mut a.items {
            ArrayItems::RefOrSchema(items) => match items.as_mut() {
                RefOr::T(Schema::Object(o)) => Some(o),
                _ => None,
            },
            ArrayItems::False => None,
        },
        _ => None,
    }
}

/// The text rules as JSON Schema patterns (`keyward_core::fields::patterns`,
/// each property-tested against its parser): names, descriptions,
/// usernames, expiry dates, IP allowlist entries and addresses are
/// trimmed, then read; query text is kept as sent and refuses control
/// characters; the access log's address filter is an address prefix.
fn document_text_patterns(api: &mut utoipa::openapi::OpenApi) {
    use keyward_core::fields::{Description, GroupName, KeyName, patterns};
    use keyward_core::tenant::TenantName;
    use utoipa::openapi::path::ParameterIn;

    let key_name = patterns::trimmed_text(KeyName::MIN, KeyName::MAX, false);
    let group_name = patterns::trimmed_text(GroupName::MIN, GroupName::MAX, false);
    let tenant_name = patterns::trimmed_text(TenantName::MIN, TenantName::MAX, false);
    let description = patterns::trimmed_text(0, Description::MAX, true);
    let (query, expiry, ip_entry) = (
        patterns::no_controls(),
        patterns::expiry(),
        patterns::ip_entry(),
    );
    let (username, presented) = (patterns::username(), patterns::presented_username());
    let ip_address = patterns::ip_address();
    // Trimmed values: the pattern says both what is kept and its length
    // (counted after trimming), so `minLength`/`maxLength`, which would
    // count the trimmed spaces, are dropped.
    let trimmed = [
        ("CreateApiKeyRequest", "name", &key_name),
        ("UpdateApiKeyRequest", "name", &key_name),
        ("CreateApiKeyRequest", "description", &description),
        ("UpdateApiKeyRequest", "description", &description),
        ("CreateGroupRequest", "name", &group_name),
        ("UpdateGroupRequest", "name", &group_name),
        ("CreateGroupRequest", "description", &description),
        ("UpdateGroupRequest", "description", &description),
        ("CreateTenantRequest", "name", &tenant_name),
        ("UpdateTenantRequest", "name", &tenant_name),
        ("CreateUserRequest", "username", &username),
        ("LoginRequest", "username", &presented),
        ("CreateApiKeyRequest", "expires_at", &expiry),
        ("UpdateApiKeyRequest", "expires_at", &expiry),
        ("RotateApiKeyRequest", "expires_at", &expiry),
        ("CreateApiKeyRequest", "ip_allowlist", &ip_entry),
        ("UpdateApiKeyRequest", "ip_allowlist", &ip_entry),
        ("VerifyRequest", "client_ip", &ip_address),
        ("CrmCreateApiKeyRequest", "name", &key_name),
        ("CrmUpdateApiKeyRequest", "name", &key_name),
        ("CrmCreateApiKeyRequest", "description", &description),
        ("CrmUpdateApiKeyRequest", "description", &description),
        ("CrmCreateApiKeyRequest", "expiry_date", &expiry),
        ("CrmUpdateApiKeyRequest", "expiry_date", &expiry),
        ("CreateWebhookRequest", "description", &description),
        ("UpdateWebhookRequest", "description", &description),
    ];
    for (schema, field, pattern) in trimmed {
        if let Some(o) = property(api, schema, field).and_then(string_schema) {
            o.pattern = Some(pattern.clone());
            o.min_length = None;
            o.max_length = None;
        }
    }
    if let Some(o) = property(api, "VerifyRequest", "route").and_then(string_schema) {
        o.pattern = Some(query.clone());
    }
    let url = patterns::webhook_url();
    for schema in ["CreateWebhookRequest", "UpdateWebhookRequest"] {
        if let Some(o) = property(api, schema, "url").and_then(string_schema) {
            o.pattern = Some(url.clone());
        }
    }
    let address_filter = patterns::address_filter();
    for op in api.paths.paths.values_mut().flat_map(operations) {
        for parameter in op.parameters.iter_mut().flatten() {
            let utoipa::openapi::RefOr::T(p) = parameter else {
                continue;
            };
            let pattern = match p.name.as_str() {
                "q" | "key_id" | "actor" => &query,
                "client_ip" => &address_filter,
                _ => continue,
            };
            if p.parameter_in == ParameterIn::Query
                && let Some(o) = p.schema.as_mut().and_then(string_schema)
            {
                o.pattern = Some(pattern.clone());
            }
        }
    }
}

/// The operations of a path that Keyward serves (it serves no other methods).
fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}

/// A request-body example for every operation that takes a body, written
/// with the contract's own request types (so an example always has their
/// fields and types).
fn request_examples() -> Vec<(&'static str, serde_json::Value)> {
    use keyward_core::api::*;
    use keyward_core::permission::GroupKind;
    fn example<T: serde::Serialize>(
        operation: &'static str,
        body: T,
    ) -> (&'static str, serde_json::Value) {
        (operation, serde_json::to_value(body).unwrap_or_default())
    }
    let password = "correct horse battery staple";
    vec![
        example(
            "login",
            LoginRequest {
                username: "admin".into(),
                password: password.into(),
            },
        ),
        example(
            "create_api_key",
            CreateApiKeyRequest {
                name: "Billing export".into(),
                description: Some("Nightly export to the billing system".into()),
                group_id: Some(1),
                permissions: vec!["invoices:read".into()],
                expires_at: Some("2027-01-10".into()),
                ip_allowlist: vec!["203.0.113.0/24".into(), "2001:db8::1".into()],
                rate_limit: Some(vec![
                    RateWindow {
                        limit: 100,
                        period_seconds: 1,
                        burst: Some(20),
                    },
                    RateWindow {
                        limit: 10_000,
                        period_seconds: 3600,
                        burst: None,
                    },
                ]),
            },
        ),
        example(
            "update_api_key",
            UpdateApiKeyRequest {
                name: Some("Billing export (EU)".into()),
                expires_at: Some(None),
                ..Default::default()
            },
        ),
        // Seed 000's own examples, as written there.
        example(
            "crm_create_api_key",
            CrmCreateApiKeyRequest {
                name: "New Integration".into(),
                description: Some("Third-party billing sync".into()),
                expiry_date: Some("2027-01-10".into()),
                permissions: vec!["view_customer".into(), "view_service".into()],
            },
        ),
        example(
            "crm_update_api_key",
            CrmUpdateApiKeyRequest {
                name: Some("Updated Name".into()),
                expiry_date: Some(Some("2027-12-31".into())),
                ..Default::default()
            },
        ),
        example(
            "rotate_api_key",
            RotateApiKeyRequest {
                grace_period_seconds: 3600,
                expires_at: Some("2027-06-30".into()),
            },
        ),
        example(
            "create_group",
            CreateGroupRequest {
                name: "Reporting".into(),
                description: Some("Read-only access for dashboards".into()),
                kind: GroupKind::TenantApiKey,
                permissions: vec!["customers:read".into(), "services:read".into()],
                rate_limit: Some(vec![RateWindow {
                    limit: 600,
                    period_seconds: 60,
                    burst: Some(60),
                }]),
            },
        ),
        example(
            "update_group",
            UpdateGroupRequest {
                permissions: Some(vec!["customers:read".into()]),
                ..Default::default()
            },
        ),
        example(
            "verify_api_key",
            VerifyRequest {
                key: "sk_live_AbCdEfGhIjKl_MnOpQrStUvWxYz0123456789AbCdEfGh".into(),
                required_permissions: vec!["customers:read".into()],
                client_ip: Some("203.0.113.7".into()),
                route: Some("GET /customers".into()),
                cost: Some(1),
                peek: false,
            },
        ),
        example(
            "create_tenant",
            CreateTenantRequest {
                name: "Acme".into(),
                key_limit: Some(25),
            },
        ),
        example(
            "update_tenant",
            UpdateTenantRequest {
                key_limit: Some(50),
                ..Default::default()
            },
        ),
        example(
            "create_user",
            CreateUserRequest {
                username: "jane".into(),
                password: password.into(),
                role: Role::TenantAdmin,
            },
        ),
        example(
            "update_user",
            UpdateUserRequest {
                disabled: Some(true),
                ..Default::default()
            },
        ),
        example(
            "create_webhook",
            CreateWebhookRequest {
                url: "https://hooks.example.com/keyward".into(),
                description: Some("On-call channel".into()),
                events: vec!["api_key.expiring".into(), "api_key.revoked".into()],
                enabled: Some(true),
            },
        ),
        example(
            "update_webhook",
            UpdateWebhookRequest {
                enabled: Some(true),
                ..Default::default()
            },
        ),
        example(
            "reset_user_password",
            ResetPasswordRequest {
                password: Some(password.into()),
            },
        ),
    ]
}

fn document_request_examples(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    let examples: std::collections::HashMap<_, _> = request_examples().into_iter().collect();
    for item in api.paths.paths.values_mut() {
        for op in operations(item) {
            let example = op.operation_id.as_deref().and_then(|id| examples.get(id));
            if let (Some(RefOr::T(body)), Some(example)) = (&mut op.request_body, example) {
                for content in body.content.values_mut() {
                    if let RefOr::T(content) = content {
                        content.example = Some(example.clone());
                    }
                }
            }
        }
    }
}

/// Adds what every operation of a kind can answer or take, where its own
/// annotations do not list it, so that the document names every status the
/// server can give (the middleware and extractors answer these before a
/// handler runs):
/// - authenticated operations: 401, 403 and 429 (the throttle of failed
///   attempts from the client or with the key);
/// - operations for signed-in users: the `X-Keyward-Tenant` header (a super
///   user acts in another tenant; a tenant that does not exist, or another
///   one's for anyone else, is 404);
/// - a JSON body: 400 (not JSON, or not an object) and 413 (too large);
/// - query parameters: 400 (a malformed query string); path parameters: 404.
///
/// Every 429 carries `Retry-After`; answers to API keys, the `RateLimit`
/// header fields.
fn document_common_responses(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::header::HeaderBuilder;
    use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
    use utoipa::openapi::{ContentBuilder, Object, Ref, RefOr, Required, ResponseBuilder, Type};

    let error = |description: &str| -> RefOr<utoipa::openapi::Response> {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
                    .build(),
            )
            .build()
            .into()
    };
    let retry_after = HeaderBuilder::new()
        .schema(Some(Object::with_type(Type::Integer)))
        .description(Some("Seconds until the client may try again"))
        .build();
    let rate_limit_headers = [
        (
            "RateLimit",
            "For an API key with a rate limit: its most restrictive window's \
             remaining budget and seconds until it is whole \
             (`\"60s\";r=42;t=18`, draft-ietf-httpapi-ratelimit-headers)",
        ),
        (
            "RateLimit-Policy",
            "For an API key over its rate limit: its windows \
             (`\"1s\";q=100;w=1;burst=20, \"3600s\";q=10000;w=3600`)",
        ),
    ]
    .map(|(name, description)| {
        (
            name,
            HeaderBuilder::new()
                .schema(Some(Object::with_type(Type::String)))
                .description(Some(description))
                .build(),
        )
    });
    let tenant_header = ParameterBuilder::new()
        .name(crate::auth::TENANT_HEADER)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Super users: the id of the tenant to act in (default: their own). \
             A tenant that does not exist, or for anyone else another tenant than \
             their own, is 404.",
        ))
        .schema(Some(
            utoipa::openapi::ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                    utoipa::openapi::KnownFormat::Int64,
                ))),
        ))
        .build();
    let add = |op: &mut Operation, status: &str, description: &str| {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| error(description));
    };
    for item in api.paths.paths.values_mut() {
        for op in operations(item) {
            let schemes = serde_json::to_value(&op.security).unwrap_or_default();
            let uses = |scheme: &str| {
                schemes
                    .as_array()
                    .is_some_and(|reqs| reqs.iter().any(|r| r.get(scheme).is_some()))
            };
            let session = uses("bearer") || uses("cookie");
            if session || uses("api_key") {
                add(
                    op,
                    "401",
                    "Not signed in, or the session or API key is not valid",
                );
                add(
                    op,
                    "403",
                    "Not allowed: a missing permission or role, or a write with the \
                     session cookie but without the X-CSRF-Token header",
                );
                add(
                    op,
                    "429",
                    if uses("api_key") {
                        "Too many failed attempts from this client or with this key, \
                         or the API key is over its rate limit (`rate_limited`)"
                    } else {
                        "Too many failed attempts from this client or with this key"
                    },
                );
            }
            if uses("api_key") {
                // A key with a rate limit: its budget on every answer that
                // got past verification, and on the refusal.
                for (status, response) in op.responses.responses.iter_mut() {
                    if let RefOr::T(r) = response
                        && (status.starts_with('2') || status == "429")
                    {
                        for (name, header) in &rate_limit_headers {
                            if *name == "RateLimit-Policy" && status != "429" {
                                continue;
                            }
                            r.headers
                                .entry((*name).to_owned())
                                .or_insert_with(|| RefOr::T(header.clone()));
                        }
                    }
                }
            }
            if session {
                let params = op.parameters.get_or_insert_with(Vec::new);
                params.push(RefOr::T(tenant_header.clone()));
                add(
                    op,
                    "404",
                    "Not found (or a tenant the caller cannot act in)",
                );
            }
            if op.request_body.is_some() {
                add(
                    op,
                    "400",
                    "The body is not a JSON object, or not sent as application/json",
                );
                add(op, "413", "The body is larger than the server accepts");
            }
            let params: Vec<ParameterIn> = op
                .parameters
                .iter()
                .flatten()
                .filter_map(|p| match p {
                    RefOr::T(p) => Some(p.parameter_in.clone()),
                    RefOr::Ref(_) => None,
                })
                .collect();
            if params.contains(&ParameterIn::Query) {
                add(op, "400", "The query string is not valid");
            }
            if params.contains(&ParameterIn::Path) {
                add(op, "404", "Not found");
            }
            if let Some(RefOr::T(throttled)) = op.responses.responses.get_mut("429") {
                throttled
                    .headers
                    .entry("Retry-After".to_owned())
                    .or_insert_with(|| RefOr::T(retry_after.clone()));
            }
        }
    }
}

/// The methods each documented route serves, read from the OpenAPI
/// document the server builds from its own routes: a request whose path
/// matches a route but not its method is answered 405 with `Allow`
/// instead of 404.
#[derive(Clone, Debug, Default)]
pub struct MethodTable(std::sync::Arc<Vec<(actix_web::dev::ResourceDef, String)>>);

impl MethodTable {
    pub fn of(api: &utoipa::openapi::OpenApi) -> Self {
        let routes = api
            .paths
            .paths
            .iter()
            .filter_map(|(path, item)| {
                // HEAD is served wherever GET is (as GET without the content).
                let methods: Vec<&str> = [
                    ("DELETE", item.delete.is_some()),
                    ("GET", item.get.is_some()),
                    ("HEAD", item.head.is_some() || item.get.is_some()),
                    ("OPTIONS", item.options.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("TRACE", item.trace.is_some()),
                ]
                .into_iter()
                .filter_map(|(m, served)| served.then_some(m))
                .collect();
                (!methods.is_empty()).then(|| {
                    (
                        actix_web::dev::ResourceDef::new(path.as_str()),
                        methods.join(", "),
                    )
                })
            })
            .collect();
        Self(std::sync::Arc::new(routes))
    }

    /// The methods served at `path` (`GET, HEAD, PATCH`), if a route matches it.
    pub fn allowed(&self, path: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(def, _)| def.is_match(path))
            .map(|(_, allow)| allow.as_str())
    }

    /// Whether `path` serves GET (and so HEAD).
    pub fn serves_get(&self, path: &str) -> bool {
        self.allowed(path)
            .is_some_and(|allow| allow.split(", ").any(|m| m == "GET"))
    }
}
