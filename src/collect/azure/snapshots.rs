//! `Microsoft.Compute/snapshots` as ARM returns it (the fields we read), and
//! what it means for exposure: who could download the snapshot.
//!
//! Enum-like fields stay strings: Microsoft's own example carries
//! `"networkAccessPolicy": "0"`, and one odd value must never fail a scan.
//! Values outside the documented sets are listed as unknown instead.

use serde::Deserialize;

use crate::model::{Fields, Grantee, Provider, Scope, Service, Snapshot};

#[derive(Debug, Deserialize)]
pub struct ArmSnapshot {
    pub id: String,
    pub name: Option<String>,
    pub location: String,
    #[serde(default)]
    pub tags: Fields,
    #[serde(default)]
    pub properties: Properties,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Properties {
    pub time_created: Option<String>,
    #[serde(rename = "diskSizeGB")]
    pub disk_size_gb: Option<i64>,
    pub incremental: Option<bool>,
    pub encryption: Option<Encryption>,
    pub creation_data: Option<CreationData>,
    pub disk_state: Option<String>,
    pub network_access_policy: Option<String>,
    pub public_network_access: Option<String>,
    pub data_access_auth_mode: Option<String>,
    pub disk_access_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Encryption {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub disk_encryption_set_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreationData {
    pub create_option: Option<String>,
    pub source_resource_id: Option<String>,
    pub source_uri: Option<String>,
}

/// Documented values of each enum-like field (API version 2024-03-02).
const KNOWN_VALUES: &[(&str, &[&str])] = &[
    (
        "diskState",
        &[
            "Unattached",
            "Attached",
            "Reserved",
            "Frozen",
            "ActiveSAS",
            "ActiveSASFrozen",
            "ReadyToUpload",
            "ActiveUpload",
        ],
    ),
    ("networkAccessPolicy", &["AllowAll", "AllowPrivate", "DenyAll"]),
    ("publicNetworkAccess", &["Enabled", "Disabled"]),
    ("dataAccessAuthMode", &["AzureActiveDirectory", "None"]),
];

/// A mapped snapshot and the fields whose values were not recognised.
pub struct Mapped {
    pub snapshot: Snapshot,
    pub unknown: Vec<String>,
}

impl ArmSnapshot {
    pub fn into_snapshot(self, subscription: &str) -> Mapped {
        let p = self.properties;
        let creation = p.creation_data.unwrap_or_default();
        let encryption = p.encryption.unwrap_or_default();

        // Collected, not inserted one by one: Fields then holds no spare
        // capacity, and every mapped snapshot is kept for the whole scan.
        let mut pairs = Vec::new();
        let mut put = |key: &str, value: Option<String>| {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                pairs.push((key.to_owned(), v));
            }
        };
        put("name", self.name);
        put("resourceGroup", resource_group(&self.id).map(str::to_owned));
        put("networkAccessPolicy", p.network_access_policy);
        put("publicNetworkAccess", p.public_network_access);
        put("dataAccessAuthMode", p.data_access_auth_mode);
        put("diskAccessId", p.disk_access_id);
        put("encryptionType", encryption.kind);
        put("createOption", creation.create_option);
        put("sourceUri", creation.source_uri.clone());
        // A copy of something in another subscription (or tenant) is how
        // data is moved between them: worth a line in the change details.
        let source_subscription = creation.source_resource_id.as_deref().and_then(subscription_of);
        if let Some(other) = source_subscription.filter(|s| !s.eq_ignore_ascii_case(subscription)) {
            put("sourceSubscription", Some(other.to_owned()));
        }
        if let Some(state) = &p.disk_state {
            put("diskState", Some(state.clone()));
        }
        let attributes: Fields = pairs.into_iter().collect();

        let unknown: Vec<String> = KNOWN_VALUES
            .iter()
            .filter_map(|(field, known)| {
                let value = attributes.get(field)?;
                (!known.contains(&value.as_str())).then(|| format!("{field}={value}"))
            })
            .collect();
        let grantees = Grantee::azure_exposure(&attributes);

        let snapshot = Snapshot {
            scope: Scope {
                provider: Provider::Azure,
                service: Service::AzureSnapshot,
                account: subscription.to_owned(),
                region: self.location.to_ascii_lowercase(),
            },
            // ARM ids are case-insensitive and their casing is not stable
            // between calls; one spelling keeps the diff honest.
            id: self.id.to_ascii_lowercase(),
            kind: Some(if p.incremental.unwrap_or(false) { "incremental" } else { "full" }.to_owned()),
            source_id: creation.source_resource_id.or(creation.source_uri),
            created_at: p.time_created.as_deref().map(utc),
            size_gib: p.disk_size_gb,
            // Managed disks and their snapshots are always encrypted at rest.
            encrypted: true,
            kms_key_id: encryption.disk_encryption_set_id,
            description: None,
            state: p.disk_state,
            tags: self.tags,
            grantees,
            grantees_known: true,
            attributes,
        };
        Mapped { snapshot, unknown }
    }
}

/// One snapshot from its ARM JSON, as the collector maps it (used by the
/// parser fuzz test; the collector maps page items the same way).
pub fn parse_snapshot(json: &str, subscription: &str) -> Result<Mapped, String> {
    serde_json::from_str::<ArmSnapshot>(json).map(|s| s.into_snapshot(subscription)).map_err(|e| e.to_string())
}

/// `.../resourceGroups/{name}/...`, matched without regard to case.
fn resource_group(id: &str) -> Option<&str> {
    segment_after(id, "resourcegroups")
}

/// `subscriptions/{id}/...`, with or without the leading slash.
fn subscription_of(id: &str) -> Option<&str> {
    segment_after(id, "subscriptions")
}

fn segment_after<'a>(id: &'a str, key: &str) -> Option<&'a str> {
    let mut parts = id.split('/').filter(|p| !p.is_empty());
    while let Some(part) = parts.next() {
        if part.eq_ignore_ascii_case(key) {
            return parts.next();
        }
    }
    None
}

/// ARM writes `2016-12-28T04:47:30.6630569+00:00`; the baseline keeps UTC
/// RFC 3339. An unparseable time is kept as given rather than dropped.
fn utc(at: &str) -> String {
    at.parse::<jiff::Timestamp>().map(|t| t.to_string()).unwrap_or_else(|_| at.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(json: &str) -> Mapped {
        serde_json::from_str::<ArmSnapshot>(json).unwrap().into_snapshot("sub-1")
    }

    fn with(props: &str) -> Mapped {
        map(&format!(
            r#"{{"id": "/subscriptions/sub-1/resourceGroups/RG/providers/Microsoft.Compute/snapshots/S",
                "name": "S", "location": "WestUS", "properties": {{{props}}}}}"#
        ))
    }

    #[test]
    fn exposure_follows_disk_state_and_network_policy() {
        let private = r#""networkAccessPolicy": "DenyAll""#;
        assert_eq!(with(&format!(r#""diskState": "ActiveSAS", {private}"#)).snapshot.grantees, [Grantee::SasExport]);
        assert_eq!(
            with(&format!(r#""diskState": "ActiveSASFrozen", {private}"#)).snapshot.grantees,
            [Grantee::SasExport]
        );
        assert_eq!(with(r#""networkAccessPolicy": "AllowAll""#).snapshot.grantees, [Grantee::AnyNetwork]);
        let disabled = r#""networkAccessPolicy": "AllowAll", "publicNetworkAccess": "Disabled""#;
        assert!(with(disabled).snapshot.grantees.is_empty());
        assert!(
            with(r#""networkAccessPolicy": "AllowPrivate", "diskState": "Unattached""#).snapshot.grantees.is_empty()
        );
        let both = r#""networkAccessPolicy": "AllowAll", "diskState": "ActiveSAS""#;
        assert_eq!(with(both).snapshot.grantees, [Grantee::SasExport, Grantee::AnyNetwork]);
    }

    /// Regression (issue 13, item 6): ARM omits `networkAccessPolicy` and
    /// `publicNetworkAccess` at their defaults (`AllowAll`, `Enabled`), as
    /// Microsoft's own 2024-03-02 examples do; such a snapshot is exposed.
    #[test]
    fn absent_network_fields_are_their_documented_defaults() {
        assert_eq!(with(r#""diskState": "Unattached""#).snapshot.grantees, [Grantee::AnyNetwork]);
        assert_eq!(with(r#""diskState": "ActiveSAS""#).snapshot.grantees, [Grantee::SasExport, Grantee::AnyNetwork]);
        assert!(with(r#""publicNetworkAccess": "Disabled""#).snapshot.grantees.is_empty());
        assert!(with(r#""networkAccessPolicy": "AllowPrivate""#).snapshot.grantees.is_empty());
        assert!(!with("").snapshot.attributes.contains_key("networkAccessPolicy"), "stored as the API said");
    }

    #[test]
    fn odd_enum_values_are_kept_and_listed_as_unknown() {
        let m = with(r#""networkAccessPolicy": "0", "diskState": "0""#);
        assert_eq!(m.unknown, ["diskState=0", "networkAccessPolicy=0"]);
        assert_eq!(m.snapshot.attributes["networkAccessPolicy"], "0");
        assert!(m.snapshot.grantees.is_empty());
    }

    #[test]
    fn scope_id_and_source_subscription() {
        let m = with(
            r#""creationData": {"createOption": "Copy",
                "sourceResourceId": "subscriptions/other-sub/resourceGroups/x/providers/Microsoft.Compute/disks/d"},
               "timeCreated": "2016-12-28T04:47:30.6630569+00:00""#,
        );
        let s = &m.snapshot;
        assert_eq!((s.scope.account.as_str(), s.scope.region.as_str()), ("sub-1", "westus"));
        assert_eq!(s.id, "/subscriptions/sub-1/resourcegroups/rg/providers/microsoft.compute/snapshots/s");
        assert_eq!(s.attributes["resourceGroup"], "RG");
        assert_eq!(s.attributes["sourceSubscription"], "other-sub");
        assert_eq!(s.created_at.as_deref(), Some("2016-12-28T04:47:30.6630569Z"));
        let same = with(r#""creationData": {"sourceResourceId": "/subscriptions/SUB-1/resourceGroups/x/disks/d"}"#);
        assert!(!same.snapshot.attributes.contains_key("sourceSubscription"));
    }
}
