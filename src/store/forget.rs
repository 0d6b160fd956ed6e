//! Retiring scopes on purpose (`snapaudit forget`): an account closed or
//! moved out of the organization by its owners, a region given up. Nothing is
//! deleted; from the latest scan on, the scope's last listing is no baseline,
//! its findings are no longer carried and it is never reported missing. A
//! later complete listing starts a new baseline.

use rusqlite::{TransactionBehavior, params};

use super::{Store, StoreError};
use crate::model::{Provider, Scope, Service};

/// Which established scopes to retire: one account (subscription), and
/// optionally only some regions or services.
#[derive(Debug, Clone)]
pub struct Retire {
    pub provider: Option<Provider>,
    pub account: String,
    /// Empty: every region.
    pub regions: Vec<String>,
    /// Empty: every service.
    pub services: Vec<Service>,
}

impl Retire {
    fn matches(&self, scope: &Scope) -> bool {
        scope.account == self.account
            && self.provider.is_none_or(|p| p == scope.provider)
            && (self.regions.is_empty() || self.regions.contains(&scope.region))
            && (self.services.is_empty() || self.services.contains(&scope.service))
    }
}

impl Store {
    /// Retire the established scopes `what` matches, in one transaction;
    /// returns them (none: nothing matched, nothing written).
    pub fn forget(&mut self, what: &Retire, now: &str) -> Result<Vec<Scope>, StoreError> {
        let scopes: Vec<Scope> = self.baseline()?.established.into_iter().filter(|s| what.matches(s)).collect();
        if scopes.is_empty() {
            return Ok(scopes);
        }
        let path = self.path.clone();
        let err = |e| StoreError::from_sqlite(&path, e);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
        {
            let mut insert = tx
                .prepare(
                    "INSERT OR IGNORE INTO retired_scopes (provider, service, account, region, after_scan, retired_at)
                     VALUES (?1, ?2, ?3, ?4, (SELECT max(id) FROM scans), ?5)",
                )
                .map_err(err)?;
            for s in &scopes {
                insert
                    .execute(params![s.provider.as_str(), s.service.as_str(), s.account, s.region, now])
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(scopes)
    }
}
