//! Authorization groups and the permission catalog.

use super::common::present;
use crate::permission::GroupKind;
use crate::ratelimit::RateWindow;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GroupSummary {
    pub id: i64,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GroupView {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub kind: GroupKind,
    pub permissions: Vec<String>,
    /// The rate limit of its keys that have none of their own.
    pub rate_limit: Option<Vec<RateWindow>>,
    /// Non-revoked keys using the group.
    pub key_count: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateGroupRequest {
    #[cfg_attr(feature = "openapi", schema(min_length = 2, max_length = 100))]
    pub name: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 1000))]
    pub description: Option<String>,
    pub kind: GroupKind,
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub permissions: Vec<String>,
    /// The rate limit of its keys that have none of their own; absent,
    /// `null` or `[]`: none.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 4, nullable))]
    pub rate_limit: Option<Vec<RateWindow>>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateGroupRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_length = 2, max_length = 100))]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, nullable))]
    pub description: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub permissions: Option<Vec<String>>,
    /// Replaces its rate limit; `null` or `[]` removes it.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<RateWindow>>, max_items = 4, nullable))]
    pub rate_limit: Option<Option<Vec<RateWindow>>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct GroupList {
    pub items: Vec<GroupView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PermissionInfo {
    pub name: String,
    /// What the forms show beside the checkbox ("View Customers").
    pub label: String,
    pub description: String,
    /// Other names of the permission (seed 000's REST API names).
    pub aliases: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PermissionCatalogView {
    pub permissions: Vec<PermissionInfo>,
}

impl PermissionCatalogView {
    /// The catalog this view shows (the SPA checks its forms with it).
    pub fn catalog(
        &self,
    ) -> Result<crate::permission::PermissionCatalog, crate::error::ValidationError> {
        crate::permission::PermissionCatalog::new(self.permissions.iter().map(|p| {
            crate::permission::CatalogEntrySpec {
                name: p.name.clone(),
                label: p.label.clone(),
                description: p.description.clone(),
                aliases: p.aliases.clone(),
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_distinguishes_absent_from_null() {
        let absent: UpdateGroupRequest = serde_json::from_str(r#"{"name":"x"}"#).unwrap();
        assert_eq!(absent.description, None);
        let null: UpdateGroupRequest = serde_json::from_str(r#"{"description":null}"#).unwrap();
        assert_eq!(null.description, Some(None));
        assert_eq!(
            serde_json::to_string(&null).unwrap(),
            r#"{"description":null}"#
        );
    }
}
