//! Compute Engine snapshots, images and machine images as the REST API
//! returns them (Compute Engine API v1 reference: `Snapshot`, `Image`,
//! `MachineImage`, `Policy`), and who their IAM policies let read the data.

use serde::Deserialize;

use crate::model::{Fields, Grantee, Provider, Scope, Service, Snapshot};

/// Every resource is global: its scope's region (the storage locations are
/// an attribute).
pub const GLOBAL: &str = "global";

/// The customer-supplied or customer-managed key of a resource (`*EncryptionKey`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionKey {
    kms_key_name: Option<String>,
    sha256: Option<String>,
    raw_key: Option<String>,
    rsa_encrypted_key: Option<String>,
}

/// The fields the three resources share, under each one's own names.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    name: String,
    creation_timestamp: Option<String>,
    description: Option<String>,
    status: Option<String>,
    #[serde(default)]
    labels: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    storage_locations: Vec<String>,
    /// Snapshots and images (GB, an int64 as a string).
    disk_size_gb: Option<String>,
    /// Machine images (bytes, an int64 as a string).
    total_storage_bytes: Option<String>,
    source_disk: Option<String>,
    source_image: Option<String>,
    source_snapshot: Option<String>,
    source_instance: Option<String>,
    /// Snapshots: `STANDARD` or `ARCHIVE`.
    snapshot_type: Option<String>,
    family: Option<String>,
    snapshot_encryption_key: Option<EncryptionKey>,
    image_encryption_key: Option<EncryptionKey>,
    machine_image_encryption_key: Option<EncryptionKey>,
}

/// An IAM policy (`getIamPolicy`, policy version 3 so conditions are given).
#[derive(Debug, Default, Deserialize)]
pub struct Policy {
    #[serde(default)]
    pub bindings: Vec<Binding>,
}

#[derive(Debug, Deserialize)]
pub struct Binding {
    pub role: String,
    #[serde(default)]
    pub members: Vec<String>,
    pub condition: Option<Condition>,
}

#[derive(Debug, Deserialize)]
pub struct Condition {
    pub title: Option<String>,
    pub expression: Option<String>,
}

/// Roles granted on the resource itself that let a member read its data:
/// those with `compute.snapshots.useReadOnly`, `compute.images.useReadOnly`
/// or `compute.machineImages.useReadOnly` (IAM predefined roles reference:
/// Compute Admin, Storage Admin, Image User, Instance Admin), and the basic
/// roles. A custom role's permissions cannot be seen from the policy: it
/// counts, so nothing is missed.
pub fn grants_read(role: &str) -> bool {
    const READERS: &[&str] = &[
        "roles/owner",
        "roles/editor",
        "roles/viewer",
        "roles/compute.admin",
        "roles/compute.storageAdmin",
        "roles/compute.imageUser",
        "roles/compute.instanceAdmin",
        "roles/compute.instanceAdmin.v1",
    ];
    READERS.contains(&role) || role.starts_with("projects/") || role.starts_with("organizations/")
}

impl Resource {
    /// The snapshot record of a resource of `service` in `project`.
    pub fn into_snapshot(self, project: &str, service: Service) -> Snapshot {
        let mut attributes: Vec<(String, String)> = Vec::new();
        let mut put = |key: &str, value: Option<String>| {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                attributes.push((key.to_owned(), v));
            }
        };
        let key = self.snapshot_encryption_key.or(self.image_encryption_key).or(self.machine_image_encryption_key);
        let (encryption, kms_key_id) = match key {
            Some(EncryptionKey { kms_key_name: Some(name), .. }) => ("cmek", Some(name)),
            Some(EncryptionKey { sha256, raw_key, rsa_encrypted_key, .. })
                if sha256.is_some() || raw_key.is_some() || rsa_encrypted_key.is_some() =>
            {
                ("csek", None)
            }
            _ => ("google-managed", None),
        };
        put("encryption", Some(encryption.to_owned()));
        put("storageLocations", Some(self.storage_locations.join(",")));
        put("snapshotType", self.snapshot_type);
        put("family", self.family);
        put("sourceImage", self.source_image.as_deref().map(short_name));
        put("sourceSnapshot", self.source_snapshot.as_deref().map(short_name));
        let size_gib = match (&self.disk_size_gb, &self.total_storage_bytes) {
            (Some(gb), _) => gb.parse::<i64>().ok(),
            (None, Some(bytes)) => bytes.parse::<i64>().ok().map(|b| (b + (1 << 30) - 1) >> 30),
            (None, None) => None,
        };
        Snapshot {
            scope: scope(project, service),
            id: self.name,
            kind: None,
            source_id: self.source_disk.or(self.source_instance).as_deref().map(short_path),
            created_at: self.creation_timestamp.as_deref().and_then(utc),
            size_gib,
            // Compute Engine encrypts all data at rest; `encryption` says whose key.
            encrypted: true,
            kms_key_id,
            description: self.description.filter(|d| !d.is_empty()),
            state: self.status,
            tags: self.labels.into_iter().collect(),
            grantees: Vec::new(),
            grantees_known: true,
            attributes: attributes.into_iter().collect::<Fields>(),
        }
    }
}

/// Who the policy lets read the data, and its bindings in words (kept as
/// the `iamBindings` attribute, conditions included, so a change to any
/// binding is a `modified` change).
pub fn readers(policy: &Policy) -> (Vec<Grantee>, String) {
    let mut grantees = Vec::new();
    let mut described = Vec::new();
    for b in &policy.bindings {
        let condition = b
            .condition
            .as_ref()
            .map(|c| format!(" if {}", c.title.as_deref().or(c.expression.as_deref()).unwrap_or("a condition")))
            .unwrap_or_default();
        described.push(format!("{}: {}{condition}", b.role, b.members.join(" ")));
        if grants_read(&b.role) {
            // A conditional grant is still a grant: reported, its condition shown.
            grantees.extend(b.members.iter().filter_map(|m| member_grantee(m)));
        }
    }
    grantees.sort();
    grantees.dedup();
    described.sort();
    (grantees, described.join("; "))
}

/// `allUsers` and `allAuthenticatedUsers` (anyone with a Google account)
/// are public; `deleted:` members can no longer act; any other member is
/// kept as given.
fn member_grantee(member: &str) -> Option<Grantee> {
    match member {
        "allUsers" | "allAuthenticatedUsers" => Some(Grantee::Public),
        m if m.starts_with("deleted:") => None,
        m => Some(Grantee::Member(m.to_owned())),
    }
}

pub fn scope(project: &str, service: Service) -> Scope {
    Scope { provider: Provider::Gcp, service, account: project.to_owned(), region: GLOBAL.to_owned() }
}

/// `.../projects/p/zones/z/disks/d` -> `projects/p/zones/z/disks/d`.
fn short_path(url: &str) -> String {
    url.find("projects/").map_or(url, |i| &url[i..]).to_owned()
}

/// `.../global/images/name` -> `name`.
fn short_name(url: &str) -> String {
    url.rsplit('/').next().unwrap_or(url).to_owned()
}

/// Compute's `creationTimestamp` (RFC 3339 with an offset, milliseconds) in UTC.
fn utc(text: &str) -> Option<String> {
    let t: jiff::Timestamp = text.parse().ok()?;
    Some(t.round(jiff::Unit::Second).ok()?.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_maps_with_its_key_and_source() {
        let raw = serde_json::json!({
            "kind": "compute#snapshot", "id": "1", "name": "db-nightly",
            "creationTimestamp": "2026-11-24T03:04:05.678-08:00", "status": "READY",
            "sourceDisk": "https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-a/disks/db",
            "diskSizeGb": "200", "storageLocations": ["us"], "labels": {"team": "data"},
            "snapshotEncryptionKey": {"kmsKeyName": "projects/p/locations/us/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1"},
            "snapshotType": "ARCHIVE"
        });
        let s = serde_json::from_value::<Resource>(raw).unwrap().into_snapshot("p", Service::GcpSnapshot);
        assert_eq!(s.id, "db-nightly");
        assert_eq!(s.created_at.as_deref(), Some("2026-11-24T11:04:06Z"));
        assert_eq!(s.source_id.as_deref(), Some("projects/p/zones/us-central1-a/disks/db"));
        assert_eq!(s.size_gib, Some(200));
        assert_eq!(s.attributes.get("encryption").map(String::as_str), Some("cmek"));
        assert_eq!(s.attributes.get("snapshotType").map(String::as_str), Some("ARCHIVE"));
        assert_eq!(s.tags.get("team").map(String::as_str), Some("data"));
        let csek = serde_json::json!({"name": "m", "totalStorageBytes": "1073741825",
            "machineImageEncryptionKey": {"sha256": "abc="}});
        let m = serde_json::from_value::<Resource>(csek).unwrap().into_snapshot("p", Service::GcpMachineImage);
        assert_eq!((m.size_gib, m.attributes.get("encryption").map(String::as_str)), (Some(2), Some("csek")));
    }

    #[test]
    fn readers_are_the_members_of_reading_roles_conditions_included() {
        let policy: Policy = serde_json::from_value(serde_json::json!({"version": 3, "bindings": [
            {"role": "roles/compute.imageUser", "members": ["allAuthenticatedUsers", "user:eve@evil.example"]},
            {"role": "roles/compute.viewer", "members": ["group:ops@example.com"]},
            {"role": "projects/p/roles/custom", "members": ["deleted:user:old@example.com", "domain:partner.example"],
             "condition": {"title": "until Friday", "expression": "request.time < timestamp('2026-12-04T00:00:00Z')"}}
        ]}))
        .unwrap();
        let (grantees, described) = readers(&policy);
        assert_eq!(
            grantees,
            [
                Grantee::Public,
                Grantee::Member("domain:partner.example".into()),
                Grantee::Member("user:eve@evil.example".into())
            ]
        );
        assert!(described.contains("if until Friday") && described.contains("roles/compute.viewer"), "{described}");
    }
}
