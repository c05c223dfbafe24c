//! `deprov check-connection`: the first command an operator runs against their AD. It binds,
//! reads the rootDSE, checks the schema has Lync's attributes, counts users and Lync users with
//! a paged read, lists the registrar pools and how they are mapped, and says what is wrong in
//! words an AD administrator understands.

use super::entry::{Entry, LYNC_ATTRIBUTES, USERS_FILTER, pool_of};
use super::settings::{ConnectError, LdapSettings, Transport, connect};
use super::{paged, root_dse};
use deprov_wire::people::Role;
use ldap3::{Ldap, Scope};
use std::collections::BTreeMap;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Works, but the operator should know (an unmapped pool, plain text).
    Note,
    Fail,
}

/// One line of the check.
#[derive(Debug, Clone)]
pub struct Finding {
    pub verdict: Verdict,
    pub text: String,
}

/// The whole check, in order; it stops at the first failure later checks depend on.
#[derive(Debug, Default)]
pub struct Checked {
    pub findings: Vec<Finding>,
}

impl Checked {
    fn push(&mut self, verdict: Verdict, text: impl Into<String>) {
        self.findings.push(Finding {
            verdict,
            text: text.into(),
        });
    }

    pub fn failed(&self) -> bool {
        self.findings.iter().any(|f| f.verdict == Verdict::Fail)
    }
}

/// Runs every check against the DC in `settings`; `role_groups` are checked to exist.
pub async fn run(settings: &LdapSettings, role_groups: &[(Role, String)]) -> Checked {
    let mut checked = Checked::default();
    let ldap = match connect(settings, &settings.bind_dn, settings.bind_password.expose()).await {
        Ok(ldap) => ldap,
        Err(ConnectError::Unreachable(why)) => {
            checked.push(
                Verdict::Fail,
                format!("Cannot reach the domain controller: {why}."),
            );
            return checked;
        }
        Err(ConnectError::Refused(refusal)) => {
            checked.push(
                Verdict::Fail,
                format!(
                    "The DC refused the service account {}: {}. Check --ldap-bind-dn and the password.",
                    settings.bind_dn,
                    refusal.sentence()
                ),
            );
            return checked;
        }
    };
    let trust = match &settings.ca_file {
        Some(file) => format!("its certificate is signed by the CA in {}", file.display()),
        None => "its certificate is signed by a CA this machine trusts".to_owned(),
    };
    match settings.transport {
        Transport::Ldaps => checked.push(Verdict::Ok, format!("Connected to {} over LDAPS; {trust}.", settings.url)),
        Transport::StartTls => checked.push(
            Verdict::Ok,
            format!("Connected to {} and switched to TLS (StartTLS); {trust}.", settings.url),
        ),
        Transport::Plain => checked.push(
            Verdict::Note,
            format!(
                "Connected to {} in plain text (--ldap-insecure): passwords cross the network unencrypted.",
                settings.url
            ),
        ),
    }
    checked.push(Verdict::Ok, format!("Bound as {}.", settings.bind_dn));
    if let Err(why) = check_directory(&mut checked, ldap.clone(), settings, role_groups).await {
        checked.push(Verdict::Fail, why);
    }
    checked
}

async fn check_directory(
    checked: &mut Checked,
    mut ldap: Ldap,
    settings: &LdapSettings,
    role_groups: &[(Role, String)],
) -> Result<(), String> {
    let root = root_dse(ldap.clone(), settings)
        .await
        .map_err(|e| e.to_string())?;
    checked.push(
        Verdict::Ok,
        format!(
            "Domain controller {} ({}); domain {}; highest committed USN {}.",
            root.host, root.server, root.default_naming_context, root.highest_usn
        ),
    );
    // The base DN must exist and be readable.
    let base = ldap
        .with_timeout(settings.timeout)
        .search(
            &settings.base_dn,
            Scope::Base,
            "(objectClass=*)",
            vec!["distinguishedName"],
        )
        .await
        .map_err(|e| format!("Reading --ldap-base-dn {}: {e}.", settings.base_dn))?;
    if base.1.rc != 0 || base.0.is_empty() {
        return Err(format!(
            "--ldap-base-dn {} does not exist on this DC, or the service account cannot read it (the domain is {}).",
            settings.base_dn, root.default_naming_context
        ));
    }
    // Lync's schema extension.
    let filter = format!(
        "(|{})",
        LYNC_ATTRIBUTES
            .iter()
            .map(|a| format!("(lDAPDisplayName={a})"))
            .collect::<String>()
    );
    let found = paged(
        ldap.clone(),
        settings,
        &root.schema_naming_context,
        &filter,
        &["lDAPDisplayName"],
    )
    .await
    .map_err(|e| format!("Reading the schema: {e}."))?;
    let missing: Vec<&str> = LYNC_ATTRIBUTES
        .iter()
        .copied()
        .filter(|name| {
            !found.iter().any(|e| {
                e.text("lDAPDisplayName")
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
        })
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "The schema has no {}: Lync's schema extension (Install-CsAdServerSchema) has not been applied \
             to this forest, or this DC belongs to another forest.",
            missing.join(", ")
        ));
    }
    checked.push(Verdict::Ok, "The schema has Lync's msRTCSIP-* attributes.");
    // A paged read, as the portal will do it.
    let users = paged(
        ldap.clone(),
        settings,
        &settings.base_dn,
        USERS_FILTER,
        &[
            "objectGUID",
            "userAccountControl",
            "msRTCSIP-UserEnabled",
            "msRTCSIP-PrimaryHomeServer",
        ],
    )
    .await
    .map_err(|e| format!("The paged read of users failed: {e}."))?;
    if users.is_empty() {
        return Err(format!(
            "No users under {}: the base DN is wrong, or the service account may not read user objects.",
            settings.base_dn
        ));
    }
    let lync: Vec<&Entry> = users
        .iter()
        .filter(|u| u.text("msRTCSIP-UserEnabled").is_some())
        .collect();
    let temporarily_disabled = lync
        .iter()
        .filter(|u| {
            u.text("msRTCSIP-UserEnabled")
                .is_some_and(|v| v.eq_ignore_ascii_case("FALSE"))
        })
        .count();
    let pages = users.len().div_ceil(settings.page_size as usize);
    checked.push(
        Verdict::Ok,
        format!(
            "Paged read: {} users in {pages} page(s) of up to {}; {} enabled for Lync, {temporarily_disabled} of them temporarily disabled.",
            users.len(),
            settings.page_size,
            lync.len()
        ),
    );
    if lync.is_empty() {
        checked.push(
            Verdict::Note,
            "No user under the base DN is enabled for Lync: is this the right base DN?",
        );
    }
    // Registrar pools: mapped to FQDNs, or shown by id.
    let mut pools: BTreeMap<String, usize> = BTreeMap::new();
    for user in &lync {
        if let Some(dn) = user.text("msRTCSIP-PrimaryHomeServer") {
            *pools.entry(dn.to_owned()).or_default() += 1;
        }
    }
    for (dn, count) in pools {
        match pool_of(&dn, &settings.pools) {
            (fqdn, true) => checked.push(Verdict::Ok, format!("Pool {fqdn}: {count} users ({dn}).")),
            (id, false) => checked.push(
                Verdict::Note,
                format!(
                    "Pool id {id}: {count} users, not mapped to an FQDN (shown as '{id}'; cmdlets need the FQDN). \
                     Add --ldap-pool 'FQDN={dn}'."
                ),
            ),
        }
    }
    // Deletions: at the next poll from tombstones, if the account may read them.
    let mut with_tombstones = ldap.clone();
    with_tombstones.with_controls(vec![ldap3::controls::RawControl {
        ctype: super::SHOW_DELETED.to_owned(),
        crit: true,
        val: None,
    }]);
    let deleted_objects = format!("CN=Deleted Objects,{}", root.default_naming_context);
    let visible = with_tombstones
        .with_timeout(settings.timeout)
        .search(
            &deleted_objects,
            Scope::OneLevel,
            "(objectClass=user)",
            vec!["1.1"],
        )
        .await
        .map(|found| found.0.len())
        .unwrap_or(0);
    if visible > 0 {
        checked.push(
            Verdict::Ok,
            format!("The service account sees deleted users ({visible} now): deletions show at the next poll."),
        );
    } else {
        checked.push(
            Verdict::Note,
            format!(
                "The service account sees no deleted users (AD shows them only to accounts granted List Contents \
                 on {deleted_objects}, or there are none): deletions are found by listing every user's objectGUID \
                 every {} s (--ldap-deletions-secs).",
                settings.census_every.as_secs()
            ),
        );
    }
    for (role, dn) in role_groups {
        let group = ldap
            .with_timeout(settings.timeout)
            .search(dn, Scope::Base, "(objectClass=group)", vec!["member"])
            .await
            .map_err(|e| format!("Reading the {} group {dn}: {e}.", role.as_str()))?;
        if group.1.rc != 0 || group.0.is_empty() {
            return Err(format!(
                "--role-group {}={dn}: no such group on this DC (or it is not a group).",
                role.as_str()
            ));
        }
        checked.push(
            Verdict::Ok,
            format!("The {} group exists: {dn}.", role.as_str()),
        );
    }
    Ok(())
}
