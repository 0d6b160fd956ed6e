//! How to undo an exposure: the exact commands that remove only the grantees
//! a finding names (the untrusted ones; a trusted share stays), and where to
//! see the resource in the provider's console. Data, carried by the finding
//! into every format, as Prowler's check metadata carries
//! `Remediation.Code.CLI`.

use serde::{Deserialize, Serialize};

use super::{Grantee, Provider, Scope, Service};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remedy {
    /// Shell commands (AWS CLI, Azure CLI, gcloud), each one call, run by
    /// someone allowed to change the resource, in its account or project.
    pub commands: Vec<String>,
    /// The resource in the provider's console.
    pub console: Option<String>,
}

impl Remedy {
    /// Remove `grantees` from the share list of `id` in `scope`: the
    /// command per provider and kind (AWS CLI Command Reference:
    /// `ec2 modify-snapshot-attribute`, `ec2 modify-image-attribute`,
    /// `rds modify-db-snapshot-attribute`, `rds modify-db-cluster-snapshot-attribute`;
    /// Azure CLI: `az snapshot revoke-access`, `az snapshot update`; gcloud:
    /// `compute snapshots|images|machine-images remove-iam-policy-binding`).
    /// Google Cloud needs the bindings (`ROLE: MEMBERS [if CONDITION]; ...`)
    /// to name each member's roles. `None` when nothing can be removed.
    pub fn remove(scope: &Scope, id: &str, grantees: &[Grantee], bindings: Option<&str>) -> Option<Remedy> {
        if grantees.is_empty() {
            return None;
        }
        let region = &scope.region;
        let aws_console = |path: &str| format!("https://{region}.console.aws.amazon.com/{path}");
        let (commands, console) = match scope.service {
            Service::Ebs => {
                let mut command = format!(
                    "aws ec2 modify-snapshot-attribute --region {region} --snapshot-id {} --attribute createVolumePermission --operation-type remove",
                    quote(id)
                );
                let users: Vec<String> = accounts(grantees).map(quote).collect();
                if !users.is_empty() {
                    command.push_str(&format!(" --user-ids {}", users.join(" ")));
                }
                if grantees.contains(&Grantee::Public) {
                    command.push_str(" --group-names all");
                }
                let console = aws_console(&format!("ec2/home?region={region}#SnapshotDetails:snapshotId={id}"));
                (vec![command], console)
            }
            Service::Rds | Service::RdsCluster => {
                let values: Vec<String> = grantees
                    .iter()
                    .filter(|g| matches!(g, Grantee::Public | Grantee::Account(_)))
                    .map(|g| quote(g.label()))
                    .collect();
                if values.is_empty() {
                    return None;
                }
                let (call, flag, anchor) = if scope.service == Service::Rds {
                    ("modify-db-snapshot-attribute", "--db-snapshot-identifier", "db-snapshot")
                } else {
                    ("modify-db-cluster-snapshot-attribute", "--db-cluster-snapshot-identifier", "db-cluster-snapshot")
                };
                let command = format!(
                    "aws rds {call} --region {region} {flag} {} --attribute-name restore --values-to-remove {}",
                    quote(id),
                    values.join(" ")
                );
                (vec![command], aws_console(&format!("rds/home?region={region}#{anchor}:id={id}")))
            }
            Service::Ami => {
                let items: Vec<String> = grantees
                    .iter()
                    .filter_map(|g| match g {
                        Grantee::Public => Some("{Group=all}".to_owned()),
                        Grantee::Account(a) => Some(format!("{{UserId={a}}}")),
                        Grantee::Organization(arn) => Some(format!("{{OrganizationArn={arn}}}")),
                        Grantee::OrganizationalUnit(arn) => Some(format!("{{OrganizationalUnitArn={arn}}}")),
                        _ => None,
                    })
                    .collect();
                if items.is_empty() {
                    return None;
                }
                let command = format!(
                    "aws ec2 modify-image-attribute --region {region} --image-id {} --launch-permission {}",
                    quote(id),
                    quote(&format!("Remove=[{}]", items.join(",")))
                );
                (vec![command], aws_console(&format!("ec2/home?region={region}#ImageDetails:imageId={id}")))
            }
            Service::AzureSnapshot => {
                let mut commands = Vec::new();
                if grantees.contains(&Grantee::SasExport) {
                    commands.push(format!("az snapshot revoke-access --ids {}", quote(id)));
                }
                if grantees.contains(&Grantee::AnyNetwork) {
                    commands.push(format!(
                        "az snapshot update --ids {} --network-access-policy DenyAll --public-network-access Disabled",
                        quote(id)
                    ));
                }
                (commands, format!("https://portal.azure.com/#resource{id}"))
            }
            Service::GcpSnapshot | Service::GcpImage | Service::GcpMachineImage => {
                let (group, page) = match scope.service {
                    Service::GcpSnapshot => {
                        ("snapshots", format!("snapshotsDetail/projects/{}/global/snapshots/{id}", scope.account))
                    }
                    Service::GcpImage => {
                        ("images", format!("imagesDetail/projects/{}/global/images/{id}", scope.account))
                    }
                    _ => ("machine-images", format!("machineImages/details/{id}?project={}", scope.account)),
                };
                let mut commands = Vec::new();
                for (role, members, condition) in super::parse_iam_bindings(bindings.unwrap_or_default()) {
                    let named = |m: &str| {
                        grantees.contains(&Grantee::Member(m.to_owned()))
                            || (matches!(m, "allUsers" | "allAuthenticatedUsers")
                                && grantees.contains(&Grantee::Public))
                    };
                    for member in members.into_iter().filter(|m| named(m)) {
                        // A conditional binding is removed whatever its condition.
                        let all = if condition.is_some() { " --all" } else { "" };
                        commands.push(format!(
                            "gcloud compute {group} remove-iam-policy-binding {} --project {} --member {} --role {}{all}",
                            quote(id),
                            quote(&scope.account),
                            quote(member),
                            quote(role)
                        ));
                    }
                }
                (commands, format!("https://console.cloud.google.com/compute/{page}"))
            }
        };
        (!commands.is_empty()).then_some(Remedy { commands, console: Some(console) })
    }

    /// Turn a region's block public access back on (AWS CLI:
    /// `ec2 enable-snapshot-block-public-access`, `ec2 enable-image-block-public-access`).
    pub fn block_public_sharing(scope: &Scope) -> Option<Remedy> {
        let region = &scope.region;
        let command = match (scope.provider, scope.service) {
            (Provider::Aws, Service::Ebs) => {
                format!("aws ec2 enable-snapshot-block-public-access --region {region} --state block-all-sharing")
            }
            (Provider::Aws, Service::Ami) => format!(
                "aws ec2 enable-image-block-public-access --region {region} --image-block-public-access-state block-new-sharing"
            ),
            _ => return None,
        };
        let console = format!("https://{region}.console.aws.amazon.com/ec2/home?region={region}#Settings:");
        Some(Remedy { commands: vec![command], console: Some(console) })
    }

    /// The commands as one line of text (CSV, tables).
    pub fn one_line(&self) -> String {
        self.commands.join(" && ")
    }
}

fn accounts(grantees: &[Grantee]) -> impl Iterator<Item = &str> {
    grantees.iter().filter_map(|g| match g {
        Grantee::Account(a) => Some(a.as_str()),
        _ => None,
    })
}

/// `s` as one shell word: as it is when it holds only safe characters,
/// else in single quotes.
fn quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./:@=,+%".contains(c);
    if !s.is_empty() && s.chars().all(safe) { s.to_owned() } else { format!("'{}'", s.replace('\'', r"'\''")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(service: Service) -> Scope {
        let provider = match service {
            Service::AzureSnapshot => Provider::Azure,
            Service::GcpSnapshot | Service::GcpImage | Service::GcpMachineImage => Provider::Gcp,
            _ => Provider::Aws,
        };
        Scope { provider, service, account: "111111111111".into(), region: "eu-west-1".into() }
    }

    #[test]
    fn each_kind_removes_exactly_the_grantees_named() {
        let outsider = Grantee::Account("999999999999".into());
        let ebs = Remedy::remove(&scope(Service::Ebs), "snap-1", &[outsider.clone(), Grantee::Public], None).unwrap();
        assert_eq!(
            ebs.commands,
            [
                "aws ec2 modify-snapshot-attribute --region eu-west-1 --snapshot-id snap-1 --attribute createVolumePermission --operation-type remove --user-ids 999999999999 --group-names all"
            ]
        );
        assert!(ebs.console.unwrap().contains("SnapshotDetails:snapshotId=snap-1"));
        let rds = Remedy::remove(&scope(Service::Rds), "orders", std::slice::from_ref(&outsider), None).unwrap();
        assert_eq!(
            rds.commands,
            [
                "aws rds modify-db-snapshot-attribute --region eu-west-1 --db-snapshot-identifier orders --attribute-name restore --values-to-remove 999999999999"
            ]
        );
        let cluster = Remedy::remove(&scope(Service::RdsCluster), "ledger", &[Grantee::Public], None).unwrap();
        assert!(cluster.commands[0].starts_with("aws rds modify-db-cluster-snapshot-attribute"), "{cluster:?}");
        assert!(cluster.commands[0].ends_with("--values-to-remove all"), "{cluster:?}");
        let ou = Grantee::OrganizationalUnit("arn:aws:organizations::222222222222:ou/o-abc/ou-abc-1".into());
        let ami = Remedy::remove(&scope(Service::Ami), "ami-1", &[outsider, ou], None).unwrap();
        assert_eq!(
            ami.commands,
            [
                "aws ec2 modify-image-attribute --region eu-west-1 --image-id ami-1 --launch-permission 'Remove=[{UserId=999999999999},{OrganizationalUnitArn=arn:aws:organizations::222222222222:ou/o-abc/ou-abc-1}]'"
            ]
        );
        let arm = "/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/snapshots/disk1";
        let azure = Remedy::remove(&scope(Service::AzureSnapshot), arm, &[Grantee::SasExport], None).unwrap();
        assert_eq!(azure.commands, [format!("az snapshot revoke-access --ids {arm}")]);
        assert_eq!(Remedy::remove(&scope(Service::Ebs), "snap-1", &[], None), None);
    }

    #[test]
    fn google_cloud_removes_each_outside_members_roles_only() {
        let bindings = "roles/compute.imageUser: user:eve@partner.example user:bob@corp.example; roles/owner: user:eve@partner.example if until 2027";
        let eve = Grantee::Member("user:eve@partner.example".into());
        let remedy = Remedy::remove(&scope(Service::GcpImage), "golden", &[eve], Some(bindings)).unwrap();
        assert_eq!(
            remedy.commands,
            [
                "gcloud compute images remove-iam-policy-binding golden --project 111111111111 --member user:eve@partner.example --role roles/compute.imageUser",
                "gcloud compute images remove-iam-policy-binding golden --project 111111111111 --member user:eve@partner.example --role roles/owner --all",
            ],
            "bob, trusted, keeps his grant"
        );
        let public = "roles/compute.imageUser: allAuthenticatedUsers user:bob@corp.example";
        let remedy = Remedy::remove(&scope(Service::GcpImage), "golden", &[Grantee::Public], Some(public)).unwrap();
        assert_eq!(remedy.commands.len(), 1);
        assert!(remedy.commands[0].contains("--member allAuthenticatedUsers --role roles/compute.imageUser"));
        assert_eq!(quote("it's"), r"'it'\''s'");
    }
}
