//! Which accounts a scan covers and with which credentials: the default
//! chain, several named profiles, or a role assumed in listed accounts or in
//! every active account of the organization.

use std::collections::BTreeSet;

use futures_util::StreamExt;

use super::error::ScopeError;
use super::options::{AccountChoice, AwsOptions};
use super::session::Session;
use crate::collect::{ApiCalls, CollectError};

/// One account to scan. A role that could not be assumed leaves the account
/// in the plan, so its scopes are reported failed rather than silently absent.
pub(super) struct Target {
    pub account: String,
    pub session: Result<Session, ScopeError>,
}

pub(super) struct Plan {
    pub targets: Vec<Target>,
    pub regions: Vec<String>,
    /// Active accounts of the organization, when scanning with `--org`.
    pub organization: BTreeSet<String>,
}

/// Assume-role sessions opened at once (each costs an STS call).
const ASSUME_CONCURRENCY: usize = 16;

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
        bases.push(Target { account, session: Ok(session) });
    }
    let first = bases[0].session.as_ref().map_err(|_| CollectError::NoRegion)?;
    let regions = first.regions(&options.regions).await?;

    let Some(role) = &options.assume_role else {
        let mut seen = BTreeSet::new();
        bases.retain(|t| seen.insert(t.account.clone()));
        return Ok(Plan { targets: bases, regions, organization: BTreeSet::new() });
    };

    let (accounts, organization) = match &role.accounts {
        AccountChoice::Listed(ids) => (ids.clone(), BTreeSet::new()),
        AccountChoice::Organization { only } => {
            let members = organization_accounts(first).await?;
            let outside: Vec<&str> = only.iter().filter(|a| !members.contains(*a)).map(String::as_str).collect();
            if !outside.is_empty() {
                return Err(CollectError::NotInOrganization { accounts: outside.join(", "), members: members.len() });
            }
            let chosen = if only.is_empty() { members.iter().cloned().collect() } else { only.clone() };
            (chosen, members)
        }
    };
    let caller = bases.swap_remove(0);
    let caller_account = caller.account.clone();
    let caller_session = caller.session.map_err(|_| CollectError::NoRegion)?;
    let partition = caller_session.partition();
    let base = &caller_session;
    let mut targets: Vec<Target> = futures_util::stream::iter(accounts.into_iter().filter(|a| *a != caller_account))
        .map(|account| async move {
            let arn = format!("arn:{partition}:iam::{account}:role/{}", role.role_name);
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
            Target { account, session }
        })
        .buffer_unordered(ASSUME_CONCURRENCY)
        .collect()
        .await;
    // The caller's own account is scanned with the caller's credentials (an
    // organization's management account rarely has the member role).
    let scan_caller = match &role.accounts {
        AccountChoice::Listed(ids) => ids.contains(&caller_account),
        AccountChoice::Organization { only } => only.is_empty() || only.contains(&caller_account),
    };
    if scan_caller {
        targets.push(Target { account: caller_account, session: Ok(caller_session) });
    }
    targets.sort_by(|a, b| a.account.cmp(&b.account));
    Ok(Plan { targets, regions, organization })
}

/// Active member accounts (AWS Organizations `ListAccounts`).
async fn organization_accounts(session: &Session) -> Result<BTreeSet<String>, CollectError> {
    let mut pages = session.organizations().list_accounts().into_paginator().send();
    let mut members = BTreeSet::new();
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
        }
    }
    Ok(members)
}
