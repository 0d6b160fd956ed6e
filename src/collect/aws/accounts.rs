//! Which accounts a scan covers and with which credentials: the default
//! chain, several named profiles, or a role assumed in listed accounts or in
//! every active account of the organization.

use std::collections::BTreeSet;

use futures_util::StreamExt;

use super::error::ScopeError;
use super::options::{AccountChoice, AssumeRole, AwsOptions};
use super::session::{RegionList, Session};
use crate::collect::{ApiCalls, CollectError};
use crate::model::{AccountReach, MissingReason};

/// One account to scan. A role that could not be assumed leaves the account
/// in the plan, so its scopes are reported failed rather than silently absent.
#[derive(Clone)]
pub(super) struct Target {
    pub account: String,
    pub session: Result<Session, ScopeError>,
    /// The account's own region list (which opt-in regions it enabled);
    /// `None` where it was not read: every region asked is then tried.
    pub regions: Option<RegionList>,
}

impl Target {
    /// The account's region list says it has not enabled `region`.
    pub fn has_not_enabled(&self, region: &str) -> bool {
        self.regions.as_ref().and_then(|l| l.get(region)) == Some(&false)
    }
}

pub(super) struct Plan {
    /// Accounts open already: the caller's, named profiles'.
    pub ready: Vec<Target>,
    /// Accounts whose role is assumed (and region list read) as the scan
    /// reaches them ([`Plan::open`]), so their listings start at once.
    pub pending: Vec<String>,
    /// The caller's session, which assumes the roles.
    base: Option<Session>,
    pub regions: Vec<String>,
    /// Active accounts of the organization, when scanning with `--org`.
    pub organization: BTreeSet<String>,
    /// Its id (`o-...`), read from the account ARNs `ListAccounts` answers.
    pub organization_id: Option<String>,
    /// Which accounts the scan was asked to cover.
    pub reach: AccountReach,
}

/// Assume-role sessions opened at once (each costs an STS call).
pub(super) const ASSUME_CONCURRENCY: usize = 16;

impl Plan {
    /// Every account the scan covers.
    pub fn accounts(&self) -> usize {
        self.ready.len() + self.pending.len()
    }

    /// Assume `role` in `account` and read its region list: three calls in
    /// a row (`AssumeRole`, `GetCallerIdentity`, `DescribeRegions`). A role
    /// that cannot be assumed leaves the account's scopes failed.
    pub async fn open(&self, account: String, role: &AssumeRole) -> Target {
        let Some(base) = &self.base else {
            let e = ScopeError { code: "NoSession".into(), message: "no caller session to assume roles".into() };
            return Target { account, session: Err(e), regions: None };
        };
        let arn = format!("arn:{}:iam::{account}:role/{}", base.partition(), role.role_name);
        let session = base.assume(arn.clone(), role).await;
        let session = match session.caller_account().await {
            Ok(seen) if seen == account => Ok(session),
            Ok(seen) => Err(ScopeError {
                code: "WrongAccount".into(),
                message: format!("assuming {arn} gave credentials for account {seen}"),
            }),
            Err(e) => Err(ScopeError {
                code: e.code,
                message: format!(
                    "cannot assume {arn}: {}. Check that the role exists in {account} and trusts the caller",
                    e.message
                ),
            }),
        };
        read_region_list(Target { account, session, regions: None }).await
    }
}

pub(super) async fn plan(options: &AwsOptions, api_calls: &ApiCalls) -> Result<Plan, CollectError> {
    let profiles: Vec<Option<&str>> = if options.profiles.is_empty() {
        vec![None]
    } else {
        options.profiles.iter().map(|p| Some(p.as_str())).collect()
    };
    let mut bases = Vec::new();
    for profile in profiles {
        let session = Session::open(options, profile, api_calls).await?;
        let account = session.identify(profile).await?;
        bases.push(Target { account, session: Ok(session), regions: None });
    }
    let (regions, caller_list) =
        bases[0].session.as_ref().map_err(|_| CollectError::NoRegion)?.regions(&options.regions).await?;
    bases[0].regions = caller_list;
    let first = bases[0].session.as_ref().map_err(|_| CollectError::NoRegion)?;

    let Some(role) = &options.assume_role else {
        let mut seen = BTreeSet::new();
        bases.retain(|t| seen.insert(t.account.clone()));
        let more = bases.split_off(1);
        let more: Vec<Target> =
            futures_util::stream::iter(more).map(read_region_list).buffer_unordered(ASSUME_CONCURRENCY).collect().await;
        bases.extend(more);
        let reach = AccountReach::Named(bases.iter().map(|t| t.account.clone()).collect());
        let organization = BTreeSet::new();
        return Ok(Plan {
            ready: bases,
            pending: Vec::new(),
            base: None,
            regions,
            organization,
            organization_id: None,
            reach,
        });
    };

    let mut organization_id = None;
    let (accounts, organization, reach) = match &role.accounts {
        AccountChoice::Listed(ids) => {
            (ids.clone(), BTreeSet::new(), AccountReach::Named(ids.iter().cloned().collect()))
        }
        AccountChoice::Organization { only } => {
            let (members, id) = organization_accounts(first).await?;
            organization_id = id;
            let outside: Vec<&str> = only.iter().filter(|a| !members.contains(*a)).map(String::as_str).collect();
            if !outside.is_empty() {
                return Err(CollectError::NotInOrganization { accounts: outside.join(", "), members: members.len() });
            }
            // The whole organization: an account it no longer has left it.
            let reach = match only.is_empty() {
                true => AccountReach::Enumerated { found: members.clone(), absent: MissingReason::LeftOrganization },
                false => AccountReach::Named(only.iter().cloned().collect()),
            };
            let chosen = if only.is_empty() { members.iter().cloned().collect() } else { only.clone() };
            (chosen, members, reach)
        }
    };
    let caller = bases.swap_remove(0);
    let caller_account = caller.account.clone();
    let caller_session = caller.session.map_err(|_| CollectError::NoRegion)?;
    let pending: Vec<String> = accounts.into_iter().filter(|a| *a != caller_account).collect();
    // The caller's own account is scanned with the caller's credentials (an
    // organization's management account rarely has the member role).
    let scan_caller = match &role.accounts {
        AccountChoice::Listed(ids) => ids.contains(&caller_account),
        AccountChoice::Organization { only } => only.is_empty() || only.contains(&caller_account),
    };
    let ready = match scan_caller {
        true => vec![Target { account: caller_account, session: Ok(caller_session.clone()), regions: caller.regions }],
        false => Vec::new(),
    };
    Ok(Plan { ready, pending, base: Some(caller_session), regions, organization, organization_id, reach })
}

/// The account's own region list, read with its own session (one
/// `DescribeRegions`). One that cannot be read is a warning: the account's
/// regions are then each tried, and a region it has not enabled answers
/// `OptInRequired` (recorded as not enabled) or `AuthFailure` (a failed
/// scope).
async fn read_region_list(mut target: Target) -> Target {
    if let (Ok(session), None) = (&target.session, &target.regions) {
        match session.region_list().await {
            Ok(list) => target.regions = Some(list),
            Err(e) => crate::log::warning(&format!(
                "account {}: cannot read which regions it has enabled ({}: {}); each region asked is tried",
                target.account, e.code, e.message
            )),
        }
    }
    target
}

/// Active member accounts (AWS Organizations `ListAccounts`) and the
/// organization's id, from their ARNs (`arn:aws:organizations::MGMT:account/o-ID/ACCOUNT`).
async fn organization_accounts(session: &Session) -> Result<(BTreeSet<String>, Option<String>), CollectError> {
    let mut pages = session.organizations().list_accounts().into_paginator().send();
    let mut members = BTreeSet::new();
    let mut organization_id = None;
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            let e = ScopeError::from_sdk("ListAccounts", e);
            CollectError::Api {
                action: "organizations:ListAccounts",
                code: e.code,
                message: format!(
                    "{}. --org must run from the organization's management account or a delegated administrator",
                    e.message
                ),
            }
        })?;
        for account in page.accounts() {
            let active =
                account.state().map(|s| s.as_str() == "ACTIVE").or(account.status().map(|s| s.as_str() == "ACTIVE"));
            if let (Some(id), Some(true)) = (account.id(), active) {
                members.insert(id.to_owned());
            }
            if organization_id.is_none() {
                organization_id =
                    account.arn().and_then(|arn| arn.split('/').find(|part| part.starts_with("o-"))).map(str::to_owned);
            }
        }
    }
    Ok((members, organization_id))
}
