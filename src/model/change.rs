//! What differs between the previous scan of a scope and this one.

use serde::{Deserialize, Serialize};

use super::{Actor, Grantee, Scope};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    Added,
    Deleted,
    ShareAdded,
    ShareRemoved,
    Modified,
    /// A region's EBS snapshot block public access state changed (no
    /// snapshot changed: `snapshot_id` is empty, `details` says `old -> new`).
    BlockPublicAccessChanged,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Deleted => "deleted",
            ChangeKind::ShareAdded => "share-added",
            ChangeKind::ShareRemoved => "share-removed",
            ChangeKind::Modified => "modified",
            ChangeKind::BlockPublicAccessChanged => "block-public-access-changed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Added,
            Self::Deleted,
            Self::ShareAdded,
            Self::ShareRemoved,
            Self::Modified,
            Self::BlockPublicAccessChanged,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub kind: ChangeKind,
    pub scope: Scope,
    pub snapshot_id: String,
    /// The grantee that appeared or disappeared, for share changes.
    pub grantee: Option<Grantee>,
    /// Human-readable detail, e.g. `tag env: dev -> prod`.
    pub details: String,
    /// Who made it, from the audit log; `None` when no event matched.
    #[serde(default)]
    pub actor: Option<Actor>,
}
