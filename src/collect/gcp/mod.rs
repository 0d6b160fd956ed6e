//! Google Cloud: Compute Engine snapshots, images and machine images, each
//! with its IAM policy, through the REST API with Application Default
//! Credentials (docs/architecture.md, "Dependency notes", says why no
//! generated client).
//!
//! Scopes: one per (project, service) with region `global`: the resources
//! are global, their storage locations an attribute. A project whose Compute
//! Engine API is disabled holds none: complete and empty, with a note. A
//! project that denies the listing is a failed scope.

pub mod credential;
mod resources;
mod rest;

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::Deserialize;

use super::{ApiCalls, CollectError, Collected, Progress, Sink};
use crate::model::{AccountReach, Coverage, MissingReason, Provider, Reach, Service, Snapshot};
use credential::GcpToken;
use resources::{Policy, Resource, readers, scope};
use rest::{GcpError, Rest};

/// Compute Engine in the public cloud.
pub const COMPUTE_ENDPOINT: &str = "https://compute.googleapis.com";
/// Resource Manager in the public cloud.
pub const RESOURCE_MANAGER_ENDPOINT: &str = "https://cloudresourcemanager.googleapis.com";

const LIST_PROJECTS: &str = "resourcemanager.projects.list";
const GET_PROJECT: &str = "resourcemanager.projects.get";

/// One Compute Engine collection: its service, REST collection and the IAM
/// permissions its list and `getIamPolicy` need.
struct Kind {
    service: Service,
    collection: &'static str,
    list: &'static str,
    get_iam_policy: &'static str,
}

const KINDS: &[Kind] = &[
    Kind {
        service: Service::GcpSnapshot,
        collection: "snapshots",
        list: "compute.snapshots.list",
        get_iam_policy: "compute.snapshots.getIamPolicy",
    },
    Kind {
        service: Service::GcpImage,
        collection: "images",
        list: "compute.images.list",
        get_iam_policy: "compute.images.getIamPolicy",
    },
    Kind {
        service: Service::GcpMachineImage,
        collection: "machineImages",
        list: "compute.machineImages.list",
        get_iam_policy: "compute.machineImages.getIamPolicy",
    },
];

/// The IAM permissions a scan needs, all read-only: the custom role
/// `snapaudit permissions --provider gcp` prints.
pub fn required_permissions() -> Vec<&'static str> {
    let mut all = vec![LIST_PROJECTS, GET_PROJECT];
    for kind in KINDS {
        all.extend([kind.list, kind.get_iam_policy]);
    }
    all
}

/// The largest page Compute Engine serves (`maxResults`: 0 to 500).
const PAGE_SIZE: u32 = 500;

#[derive(Debug, Clone)]
pub struct GcpOptions {
    /// Projects to scan; empty: every ACTIVE project the credential sees.
    pub projects: Vec<String>,
    /// `--gcp-organization`: every ACTIVE project under this organization;
    /// its projects are trusted like an AWS organization's accounts.
    pub organization: Option<String>,
    /// Replaces both Google endpoints (a test server).
    pub endpoint: Option<String>,
    pub max_concurrent_projects: usize,
    /// `getIamPolicy` calls in flight per project.
    pub max_concurrency: usize,
    /// First retry delay when the server names none.
    pub backoff: Duration,
}

impl Default for GcpOptions {
    fn default() -> Self {
        GcpOptions {
            projects: Vec::new(),
            organization: None,
            endpoint: None,
            max_concurrent_projects: 8,
            max_concurrency: 8,
            backoff: Duration::from_millis(500),
        }
    }
}

/// A project id: 6 to 30 lowercase letters, digits and hyphens, starting
/// with a letter (Resource Manager, "Creating and managing projects"), or a
/// legacy domain-scoped one (`example.com:my-project`).
pub fn check_project_id(id: &str) -> Result<String, String> {
    let (domain, name) = id.rsplit_once(':').map_or((None, id), |(d, n)| (Some(d), n));
    let domain_ok = domain.is_none_or(|d| {
        !d.is_empty() && d.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
    });
    let ok = domain_ok
        && (6..=30).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok { Ok(id.to_owned()) } else { Err(format!("{id:?} is not a project id (like my-project-123)")) }
}

/// An organization id: digits.
pub fn check_organization_id(id: &str) -> Result<String, String> {
    let digits = id.strip_prefix("organizations/").unwrap_or(id);
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        Ok(digits.to_owned())
    } else {
        Err(format!("{id:?} is not an organization id (digits, like 123456789012)"))
    }
}

struct Endpoints {
    compute: url::Url,
    resource_manager: url::Url,
}

/// Every project's snapshots, images and machine images.
pub async fn collect(
    options: &GcpOptions,
    api_calls: &ApiCalls,
    progress: Arc<Progress>,
    spool: &dyn Sink,
) -> Result<Collected, CollectError> {
    let parse = |url: &str| {
        url::Url::parse(url).map_err(|e| CollectError::Endpoint { url: url.to_owned(), reason: e.to_string() })
    };
    let endpoints = match &options.endpoint {
        Some(url) => Endpoints { compute: parse(url)?, resource_manager: parse(url)? },
        None => Endpoints { compute: parse(COMPUTE_ENDPOINT)?, resource_manager: parse(RESOURCE_MANAGER_ENDPOINT)? },
    };
    let env = |name: &str| std::env::var(name).ok();
    let token = GcpToken::select(options.endpoint.is_some(), env)?;
    let rest = Rest::new(token, api_calls.clone(), options.backoff)
        .map_err(|reason| CollectError::Endpoint { url: endpoints.compute.to_string(), reason })?;
    rest.check_credentials().await?;

    let visible = if options.projects.is_empty() || options.organization.is_some() {
        active_projects(&rest, &endpoints, options.organization.as_deref()).await?
    } else {
        Vec::new()
    };
    let (projects, accounts) = if options.projects.is_empty() {
        let found = visible.iter().map(|p| p.id.clone()).collect();
        let absent = MissingReason::NotVisible;
        (visible.iter().map(|p| p.id.clone()).collect::<Vec<_>>(), AccountReach::Enumerated { found, absent })
    } else {
        (options.projects.clone(), AccountReach::Named(options.projects.iter().cloned().collect()))
    };
    progress.add_scopes(projects.len() * KINDS.len());
    let countdown = super::progress::AccountCountdown::new(&progress, projects.len(), KINDS.len());
    let (rest_ref, endpoints_ref, countdown) = (&rest, &endpoints, &countdown);
    let jobs = projects.iter().enumerate().flat_map(|(i, p)| KINDS.iter().map(move |k| (i, p.clone(), k)));
    let listings: Vec<Result<Coverage, CollectError>> = futures_util::stream::iter(jobs)
        .map(|(index, project, kind)| {
            let progress = progress.clone();
            async move {
                let listing = list_kind(rest_ref, endpoints_ref, &project, kind, options, &progress).await;
                progress.scopes_done(1);
                countdown.done(&progress, index);
                listing.map(|(snapshots, coverage)| {
                    spool.put(snapshots);
                    coverage
                })
            }
        })
        .buffer_unordered(options.max_concurrent_projects.max(1) * KINDS.len())
        .collect()
        .await;

    let reach = Reach { provider: Provider::Gcp, accounts, regions: None };
    let mut collected = Collected { reach: vec![reach], ..Collected::default() };
    // Each project's number: a service agent names its project by it.
    collected.project_numbers = visible.iter().filter_map(|p| Some((p.id.clone(), p.number.clone()?))).collect();
    let unnumbered: Vec<&String> = projects.iter().filter(|p| !collected.project_numbers.contains_key(*p)).collect();
    for project in unnumbered {
        if let Some(number) = project_number(&rest, &endpoints, project).await {
            collected.project_numbers.insert(project.clone(), number);
        }
    }
    if options.organization.is_some() {
        // The organization's own projects are trusted, by id and by number
        // (service accounts name a project by number).
        collected.organization_accounts =
            visible.iter().flat_map(|p| [p.id.clone()].into_iter().chain(p.number.clone())).collect();
    }
    for coverage in listings {
        collected.coverage.push(coverage?);
    }
    collected.coverage.sort_by(|a, b| a.scope.cmp(&b.scope));
    Ok(collected)
}

/// A project as Resource Manager v3 returns it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProjectRecord {
    /// `projects/415104041262`.
    name: Option<String>,
    project_id: String,
    state: Option<String>,
}

struct Project {
    id: String,
    number: Option<String>,
}

#[derive(Deserialize)]
struct Ancestry {
    #[serde(default)]
    ancestor: Vec<Ancestor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Ancestor {
    resource_id: ResourceId,
}

#[derive(Deserialize)]
struct ResourceId {
    #[serde(rename = "type")]
    kind: String,
    id: String,
}

/// Every ACTIVE project the credential sees (Resource Manager v3
/// `projects.search`), or, with an organization, those under it at any
/// depth (v1 `projects.getAncestry`, one call each).
async fn active_projects(
    rest: &Rest,
    endpoints: &Endpoints,
    organization: Option<&str>,
) -> Result<Vec<Project>, CollectError> {
    let mut url = endpoints.resource_manager.join("/v3/projects:search").map_err(endpoint_error)?;
    url.query_pairs_mut().append_pair("query", "state:ACTIVE");
    let mut projects = Vec::new();
    rest.list::<ProjectRecord>(LIST_PROJECTS, "resourcemanager", url, "projects", |page| {
        projects.extend(page.into_iter().filter(|p| p.state.as_deref().is_none_or(|s| s == "ACTIVE")).map(|p| {
            Project { number: p.name.and_then(|n| n.strip_prefix("projects/").map(str::to_owned)), id: p.project_id }
        }));
    })
    .await
    .map_err(|e| api_error(LIST_PROJECTS, e))?;
    if let Some(org) = organization {
        let mut inside = Vec::new();
        for project in projects {
            let url = endpoints
                .resource_manager
                .join(&format!("/v1/projects/{}:getAncestry", project.id))
                .map_err(endpoint_error)?;
            let ancestry: Ancestry = rest
                .call(GET_PROJECT, "resourcemanager", reqwest::Method::POST, url)
                .await
                .map_err(|e| api_error(GET_PROJECT, e))?;
            if ancestry.ancestor.iter().any(|a| a.resource_id.kind == "organization" && a.resource_id.id == org) {
                inside.push(project);
            }
        }
        projects = inside;
    }
    projects.sort_by(|a, b| a.id.cmp(&b.id));
    projects.dedup_by(|a, b| a.id == b.id);
    // Nothing to scan is a misconfiguration, never a clean result.
    if projects.is_empty() {
        let scope = organization.map(|o| format!(" under organization {o}")).unwrap_or_default();
        return Err(CollectError::NoProjects { scope });
    }
    Ok(projects)
}

/// A named project's number (Resource Manager v3 `projects.get`: `name` is
/// `projects/NUMBER`). Unknown when it cannot be read: its own service
/// agents are then judged as anyone else's, never trusted by guess.
async fn project_number(rest: &Rest, endpoints: &Endpoints, project: &str) -> Option<String> {
    let url = endpoints.resource_manager.join(&format!("/v3/projects/{project}")).ok()?;
    match rest.call::<ProjectRecord>(GET_PROJECT, "resourcemanager", reqwest::Method::GET, url).await {
        Ok(record) => record.name?.strip_prefix("projects/").map(str::to_owned),
        Err(e) => {
            tracing::info!(project, "projects.get: {e:?}; its service agents are judged as outsiders");
            None
        }
    }
}

fn endpoint_error(e: url::ParseError) -> CollectError {
    CollectError::Endpoint { url: "(Google Cloud endpoint)".into(), reason: e.to_string() }
}

fn api_error(action: &'static str, e: GcpError) -> CollectError {
    if e.unauthenticated {
        CollectError::GcpCredentials { message: e.message, hint: credential::WHAT_TO_DO }
    } else {
        CollectError::Api { action, code: e.code, message: e.message }
    }
}

/// One project's resources of one kind, each with its IAM policy. A
/// refused token (401) is no project's fault: it stops the scan, and
/// nothing is written.
async fn list_kind(
    rest: &Rest,
    endpoints: &Endpoints,
    project: &str,
    kind: &Kind,
    options: &GcpOptions,
    progress: &Progress,
) -> Result<(Vec<Snapshot>, Coverage), CollectError> {
    let scope = scope(project, kind.service);
    let path = format!("/compute/v1/projects/{project}/global/{}", kind.collection);
    let Ok(mut url) = endpoints.compute.join(&path) else {
        return Ok((Vec::new(), Coverage::failed(scope, "InvalidRequest", format!("bad path {path}"))));
    };
    url.query_pairs_mut().append_pair("maxResults", &PAGE_SIZE.to_string());
    let mut snapshots = Vec::new();
    let listed = rest
        .list::<Resource>(kind.list, project, url, "items", |page| {
            progress.listed(page.len());
            snapshots.extend(page.into_iter().map(|r| r.into_snapshot(project, kind.service)));
        })
        .await;
    match listed {
        Err(e) if e.unauthenticated => {
            let message = format!("project {project}: {}", e.message);
            return Err(CollectError::GcpCredentials { message, hint: credential::WHAT_TO_DO });
        }
        // "Enable an API" (Service Usage): a project that never enabled
        // Compute Engine answers 403 SERVICE_DISABLED; it cannot hold any.
        Err(e) if e.service_disabled() => {
            let mut empty = Coverage::complete(scope);
            empty.error_code = e.reason.clone();
            empty.error = Some(format!(
                "{} (the Compute Engine API is disabled: nothing can exist; complete and empty)",
                e.message
            ));
            return Ok((Vec::new(), empty));
        }
        Err(e) => return Ok((Vec::new(), Coverage::failed(scope, e.code, e.message))),
        Ok(()) => {}
    }

    // Each resource's policy; one that cannot be read leaves the resource
    // listed with its exposure unknown, never dropped.
    let ids: Vec<(usize, String)> = snapshots.iter().enumerate().map(|(i, s)| (i, s.id.clone())).collect();
    let policies: Vec<(usize, Result<Policy, GcpError>)> = futures_util::stream::iter(ids)
        .map(|(i, id)| async move {
            let path = format!("/compute/v1/projects/{project}/global/{}/{id}/getIamPolicy", kind.collection);
            let result = match endpoints.compute.join(&path) {
                Ok(mut url) => {
                    // Version 3, so conditional bindings come with their condition.
                    url.query_pairs_mut().append_pair("optionsRequestedPolicyVersion", "3");
                    rest.call(kind.get_iam_policy, project, reqwest::Method::GET, url).await
                }
                Err(e) => Err(GcpError::new("InvalidRequest", e.to_string())),
            };
            (i, result)
        })
        .buffer_unordered(options.max_concurrency.max(1))
        .collect()
        .await;
    let mut coverage = Coverage::complete(scope);
    let mut gone = Vec::new();
    for (i, result) in policies {
        progress.share_checked();
        match result {
            Ok(policy) => {
                let (grantees, bindings) = readers(&policy);
                snapshots[i].grantees = grantees;
                if !bindings.is_empty() {
                    snapshots[i].attributes.insert(crate::model::IAM_BINDINGS.to_owned(), bindings);
                }
            }
            // Deleted since it was listed.
            Err(e) if e.not_found() => gone.push(i),
            Err(e) => {
                snapshots[i].grantees_known = false;
                coverage.unknown_exposure.push(snapshots[i].id.clone());
                coverage
                    .exposure_error
                    .get_or_insert_with(|| format!("{} could not be read: {}", kind.get_iam_policy, e.message));
            }
        }
    }
    gone.sort_unstable();
    for i in gone.into_iter().rev() {
        snapshots.remove(i);
    }
    coverage.unknown_exposure.sort();
    Ok((snapshots, coverage))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_and_organization_ids_are_checked() {
        assert!(check_project_id("my-project-123").is_ok());
        assert!(check_project_id("My-Project").is_err());
        assert!(check_project_id("abc").is_err());
        assert!(check_project_id("1project").is_err());
        assert!(check_project_id("example.com:legacy-app").is_ok());
        assert!(check_project_id("Example.com:legacy-app").is_err());
        assert_eq!(check_organization_id("organizations/123").unwrap(), "123");
        assert!(check_organization_id("o-abc").is_err());
    }

    #[test]
    fn the_permissions_are_read_only() {
        for p in required_permissions() {
            let verb = p.rsplit('.').next().unwrap();
            assert!(["list", "get", "getIamPolicy"].contains(&verb), "{p}");
        }
    }
}
