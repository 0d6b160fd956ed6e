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
    /// The rest of the organization's account list, read while the first
    /// page's accounts are scanned ([`Discovery::next_page`]).
    pub discovery: Option<Discovery>,
    /// The caller's session, which assumes the roles.
    base: Option<Session>,
    /// The caller's account, scanned with the caller's credentials when
    /// the organization's list names it.
    pub caller: Option<String>,
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
    /// Every account the scan covers, as far as the organization's list
    /// has been read.
    pub fn accounts(&self) -> usize {
        self.ready.len() + self.pending.len()
    }

    /// Assume `role` in `account` and read its region list: `AssumeRole`,
    /// then `GetCallerIdentity` and `DescribeRegions` side by side (both
    /// wait for the one assumed identity; the identity cache loads it once),
    /// two round trips. A role that cannot be assumed leaves the account's
    /// scopes failed.
    pub async fn open(&self, account: String, role: &AssumeRole) -> Target {
        let Some(base) = &self.base else {
            let e = ScopeError { code: "NoSession".into(), message: "no caller session to assume roles".into() };
            return Target { account, session: Err(e), regions: None };
        };
        let arn = role_arn(base, &account, role);
        let session = base.assume(arn.clone(), role).await;
        let (seen, regions) = tokio::join!(session.caller_account(), session.region_list());
        let session = match seen {
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
        let regions = match session {
            Ok(_) => usable_region_list(&account, regions),
            Err(_) => None,
        };
        Target { account, session, regions }
    }

    /// What assumes the member roles again after the listings, if any.
    pub fn reopener(&self, role: Option<&AssumeRole>) -> Option<Reopener> {
        Some(Reopener { base: self.base.clone()?, role: role?.clone() })
    }
}

fn role_arn(base: &Session, account: &str, role: &AssumeRole) -> String {
    format!("arn:{}:iam::{account}:role/{}", base.partition(), role.role_name)
}

/// Assumes a member role again, for the CloudTrail lookups after the diff:
/// keeping every account's session from its listing until then cost memory
/// in proportion to the organization (about 22 KiB an account: 70.1 against
/// 48.1 MiB at 1,000, `SNAPAUDIT_BENCH_ORG`), one more `AssumeRole` an
/// account does not. The SDK's provider renews it.
pub(super) struct Reopener {
    base: Session,
    role: AssumeRole,
}

impl Reopener {
    pub async fn session(&self, account: &str) -> Session {
        self.base.assume(role_arn(&self.base, account, &self.role), &self.role).await
    }
}

pub(super) async fn plan(options: &AwsOptions, api_calls: &ApiCalls) -> Result<Plan, CollectError> {
    let profiles: Vec<Option<&str>> = if options.profiles.is_empty() {
        vec![None]
    } else {
        options.profiles.iter().map(|p| Some(p.as_str())).collect()
    };
    let mut bases = Vec::new();
    let http = super::session::http_client();
    for profile in profiles {
        let session = Session::open(options, profile, api_calls, &http).await?;
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
            discovery: None,
            base: None,
            caller: None,
            regions,
            organization,
            organization_id: None,
            reach,
        });
    };

    let mut organization_id = None;
    let mut discovery = None;
    let (accounts, organization, reach) = match &role.accounts {
        AccountChoice::Listed(ids) => {
            (ids.clone(), BTreeSet::new(), AccountReach::Named(ids.iter().cloned().collect()))
        }
        AccountChoice::Organization { only } if only.is_empty() => {
            // The whole organization: its first page of accounts starts the
            // scan, the further pages are read as it goes (an organization
            // of 1,000 accounts is 50 pages of 20 in a row).
            let mut found = Discovery::new(first);
            let page = found.next_page().await?;
            organization_id = page.organization_id;
            discovery = found.has_more().then_some(found);
            let members: BTreeSet<String> = page.accounts.iter().cloned().collect();
            let reach = AccountReach::Enumerated { found: members.clone(), absent: MissingReason::LeftOrganization };
            (page.accounts, members, reach)
        }
        AccountChoice::Organization { only } => {
            let (members, id) = organization_accounts(first).await?;
            organization_id = id;
            let outside: Vec<&str> = only.iter().filter(|a| !members.contains(*a)).map(String::as_str).collect();
            if !outside.is_empty() {
                return Err(CollectError::NotInOrganization { accounts: outside.join(", "), members: members.len() });
            }
            let reach = AccountReach::Named(only.iter().cloned().collect());
            (only.clone(), members, reach)
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
        true => vec![Target {
            account: caller_account.clone(),
            session: Ok(caller_session.clone()),
            regions: caller.regions,
        }],
        false => Vec::new(),
    };
    Ok(Plan {
        ready,
        pending,
        discovery,
        base: Some(caller_session),
        caller: Some(caller_account),
        regions,
        organization,
        organization_id,
        reach,
    })
}

/// The account's own region list, read with its own session (one
/// `DescribeRegions`).
async fn read_region_list(mut target: Target) -> Target {
    if let (Ok(session), None) = (&target.session, &target.regions) {
        target.regions = usable_region_list(&target.account, session.region_list().await);
    }
    target
}

/// A region list that cannot be read is a warning: the account's regions
/// are then each tried, and a region it has not enabled answers
/// `OptInRequired` (recorded as not enabled) or `AuthFailure` (a failed
/// scope).
fn usable_region_list(account: &str, read: Result<RegionList, ScopeError>) -> Option<RegionList> {
    match read {
        Ok(list) => Some(list),
        Err(e) => {
            crate::log::warning(&format!(
                "account {account}: cannot read which regions it has enabled ({}: {}); each region asked is tried",
                e.code, e.message
            ));
            None
        }
    }
}

/// Every active member account (AWS Organizations `ListAccounts`) and the
/// organization's id.
async fn organization_accounts(session: &Session) -> Result<(BTreeSet<String>, Option<String>), CollectError> {
    let mut discovery = Discovery::new(session);
    let mut members = BTreeSet::new();
    let mut organization_id = None;
    loop {
        let page = discovery.next_page().await?;
        members.extend(page.accounts);
        organization_id = organization_id.or(page.organization_id);
        if !discovery.has_more() {
            return Ok((members, organization_id));
        }
    }
}

/// What [`more_accounts`] read: the accounts of its pages, and the error
/// that stopped it, if one did.
#[derive(Default)]
pub(super) struct Discovered {
    pub members: BTreeSet<String>,
    pub failed: Option<CollectError>,
}

/// The accounts of the organization's further pages, read one page at a
/// time as the stream is polled (so no faster than the accounts are taken
/// up), without `caller`. `on_page` hears how many accounts each page adds.
/// A page that cannot be read ends the stream, its error in `discovered`.
pub(super) fn more_accounts<'a>(
    discovery: Option<Discovery>,
    caller: Option<String>,
    discovered: &'a std::sync::Mutex<Discovered>,
    on_page: impl Fn(usize) + Clone + 'a,
) -> impl futures_util::Stream<Item = String> + 'a {
    futures_util::stream::unfold(discovery, move |state| {
        let (caller, on_page) = (caller.clone(), on_page.clone());
        async move {
            let mut discovery = state?;
            let page = discovery.next_page().await;
            let mut discovered = discovered.lock().unwrap_or_else(|e| e.into_inner());
            match page {
                Ok(page) => {
                    discovered.members.extend(page.accounts.iter().cloned());
                    let new: Vec<String> = page.accounts.into_iter().filter(|a| Some(a) != caller.as_ref()).collect();
                    on_page(new.len());
                    Some((futures_util::stream::iter(new), discovery.has_more().then_some(discovery)))
                }
                Err(e) => {
                    discovered.failed = Some(e);
                    None
                }
            }
        }
    })
    .flatten()
}

/// The organization's account list, page by page.
pub(super) struct Discovery {
    client: aws_sdk_organizations::Client,
    next_token: Option<String>,
}

/// One page of the account list.
pub(super) struct AccountPage {
    /// Its active accounts.
    pub accounts: Vec<String>,
    /// The organization's id, from the account ARNs
    /// (`arn:aws:organizations::MGMT:account/o-ID/ACCOUNT`).
    pub organization_id: Option<String>,
}

impl Discovery {
    fn new(session: &Session) -> Discovery {
        Discovery { client: session.organizations(), next_token: None }
    }

    /// The next page ([`Discovery::has_more`] says whether one is left).
    /// Organizations API Reference, ListAccounts: `NextToken` is absent
    /// from the last page, and a page may be short (even empty) before it.
    pub async fn next_page(&mut self) -> Result<AccountPage, CollectError> {
        let page = self.client.list_accounts().set_next_token(self.next_token.take()).send().await.map_err(|e| {
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
        self.next_token = page.next_token().filter(|t| !t.is_empty()).map(str::to_owned);
        let mut found = AccountPage { accounts: Vec::new(), organization_id: None };
        for account in page.accounts() {
            let active =
                account.state().map(|s| s.as_str() == "ACTIVE").or(account.status().map(|s| s.as_str() == "ACTIVE"));
            if let (Some(id), Some(true)) = (account.id(), active) {
                found.accounts.push(id.to_owned());
            }
            if found.organization_id.is_none() {
                found.organization_id =
                    account.arn().and_then(|arn| arn.split('/').find(|part| part.starts_with("o-"))).map(str::to_owned);
            }
        }
        Ok(found)
    }

    /// Whether a page is left to read.
    pub fn has_more(&self) -> bool {
        self.next_token.is_some()
    }
}
