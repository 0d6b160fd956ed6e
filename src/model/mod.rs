//! Provider-neutral types that travel through the pipeline:
//! API record -> [`Snapshot`] -> [`Change`] -> [`Finding`] -> output.

mod change;
mod finding;
mod snapshot;

pub use change::{Change, ChangeKind};
pub use finding::{Finding, Severity, Status};
pub use snapshot::{Coverage, CoverageStatus, Grantee, Provider, Scope, Service, Snapshot};
