//! Provider-neutral types that travel through the pipeline:
//! API record -> [`Snapshot`] -> [`Collected`] / [`Baseline`] -> [`Change`]
//! -> [`Finding`] -> output. Every stage depends on these, and on nothing of
//! another stage.

mod actor;
mod change;
mod fields;
mod finding;
mod history;
mod remedy;
mod snapshot;
mod state;

pub use actor::{Actor, AuditEvent, event_names, grant_event, granted_service, service_changed_by};
pub use change::{Change, ChangeKind};
pub use fields::Fields;
pub use finding::{Finding, Previous, Prior, Severity, Status, key_digest};
pub use history::{ScanRef, ScanSummary, SharedSnapshot, SharedVersion, StoredChange};
pub use remedy::Remedy;
pub use snapshot::{
    AMI_SNAPSHOTS, AZURE_DEFAULT_NETWORK_ACCESS_POLICY, AZURE_DEFAULT_PUBLIC_NETWORK_ACCESS, Coverage, CoverageStatus,
    Grantee, IAM_BINDINGS, IamBinding, MissingReason, Provider, S3_EXPORTS, Scope, Service, Snapshot, Verification,
    parse_iam_bindings,
};
pub use state::{AccountReach, Baseline, Collected, ListingSink, PriorShares, Reach, SharesRead};
