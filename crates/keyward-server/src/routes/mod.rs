//! The REST API: one module per resource, one function per action. Handlers
//! parse the request, call one use case (`app`), and render the DTO (`views`).

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod groups;
pub mod health;
pub mod tenants;
pub mod verify;

use crate::verification::KeyAuthConfig;
use keyward_core::permission::Permission;
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
    tags(
        (name = "auth", description = "Admin sign-in"),
        (name = "api-keys", description = "Generate, list, edit, rotate and revoke API keys"),
        (name = "groups", description = "Authorization groups and the permission catalog"),
        (name = "tenants", description = "Tenants, key limits and users (super users)"),
        (name = "audit", description = "Audit events"),
        (name = "verification", description = "Key verification for integrators and other services"),
        (name = "health", description = "Liveness and readiness"),
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
                .service(
                    scope::scope("/keys")
                        .app_data(KeyAuthConfig::require([Permission::API_KEYS_VERIFY]))
                        .service(verify::verify_api_key),
                ),
        );
}

/// The OpenAPI document of the routes registered by [`configure`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa_actix_web::AppExt;
    let (_, api) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi_doc())
        .configure(configure)
        .split_for_parts();
    api
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
                let methods: Vec<&str> = [
                    ("DELETE", item.delete.is_some()),
                    ("GET", item.get.is_some()),
                    ("HEAD", item.head.is_some()),
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

    /// The methods served at `path` (`GET, PATCH`), if a route matches it.
    pub fn allowed(&self, path: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(def, _)| def.is_match(path))
            .map(|(_, allow)| allow.as_str())
    }
}
