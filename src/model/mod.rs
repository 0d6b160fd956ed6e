//! Provider-neutral types that travel through the pipeline:
//! API record -> [`Snapshot`] -> [`Change`] -> [`Finding`] -> output.

mod change;
mod fields;
mod finding;
mod snapshot;

pub use change::{Change, ChangeKind};
pub use fields::Fields;
pub use finding::{Finding, Severity, Status};
pub use snapshot::{Coverage, CoverageStatus, Grantee, Provider, Scope, Service, Snapshot};
