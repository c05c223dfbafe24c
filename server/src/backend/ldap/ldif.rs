//! A directory as LDIF for a lab AD: OUs, the registrar pools' service objects, and every user
//! with the `msRTCSIP-*` attributes Lync would have written, objectGUIDs included. The tests load
//! the simulator's generated directory into a real Samba DC with it (`deprov lab-ldif`), so what
//! LDAP reads back can be compared with what was generated, user by user.
//!
//! Records carry `changetype` so `ldbmodify --controls=relax:0` loads them in one pass (relax
//! lets an add set objectGUID). What only the Lync server knows (certificates, sessions,
//! contacts) has no place in AD and is left out.

use base64::Engine as _;
use deprov_wire::directory::{DirectoryUser, UserId};
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

/// Lync's per-user option flags as deployments show them: 257 (enabled for federation and
/// remote access), +128 for Enterprise Voice.
const OPTION_FLAGS: i64 = 257;
const ENTERPRISE_VOICE: i64 = 128;

/// Groups a generated protected account can be put in (they exist in every new domain).
const BUILTIN_PROTECTED: [&str; 3] = ["Domain Admins", "Enterprise Admins", "Schema Admins"];

/// The LDIF, and the `--ldap-pool FQDN=DN` mappings of the pools it created.
pub struct Lab {
    pub ldif: String,
    pub pools: Vec<(String, String)>,
}

/// One `name: value` line, base64 (`name:: ...`) when LDIF requires it.
fn line(out: &mut String, name: &str, value: &str) {
    let safe = !value.is_empty()
        && value.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !value.starts_with([' ', ':', '<'])
        && !value.ends_with(' ');
    if safe {
        let _ = writeln!(out, "{name}: {value}");
    } else {
        let _ = writeln!(
            out,
            "{name}:: {}",
            base64::engine::general_purpose::STANDARD.encode(value)
        );
    }
}

fn add(out: &mut String, dn: &str, object_class: &str) {
    line(out, "dn", dn);
    out.push_str("changetype: add\n");
    line(out, "objectClass", object_class);
}

/// The LDIF for `users`, all under `base_dn` (their DNs must end with it).
pub fn lab(users: &[DirectoryUser], base_dn: &str) -> Result<Lab, String> {
    let suffix = format!(",{}", base_dn.to_ascii_lowercase());
    let mut out = String::new();
    // OUs, parents first.
    let mut containers = BTreeSet::new();
    for user in users {
        let dn = &user.ad.distinguished_name;
        if !dn.to_ascii_lowercase().ends_with(&suffix) {
            return Err(format!("{dn} is not under {base_dn}"));
        }
        let parts: Vec<&str> = dn.split(',').collect();
        let depth = parts.len() - base_dn.split(',').count();
        for start in 1..depth {
            let container = parts[start..].join(",");
            if container.starts_with("OU=") {
                containers.insert((parts.len() - start, container));
            }
        }
    }
    for (_, ou) in &containers {
        add(&mut out, ou, "organizationalUnit");
        out.push('\n');
    }
    // One registrar service object per pool (as Lync lays them out in the configuration NC).
    let pools: BTreeSet<String> = users
        .iter()
        .filter_map(|u| u.lync.as_ref()?.registrar_pool.clone())
        .collect();
    let pools_dn = format!("CN=Pools,CN=RTC Service,CN=Services,CN=Configuration,{base_dn}");
    let mut containers = vec![
        format!("CN=RTC Service,CN=Services,CN=Configuration,{base_dn}"),
        pools_dn.clone(),
    ];
    let mut pool_dns = Vec::new();
    for (n, fqdn) in pools.iter().enumerate() {
        let pool = format!("CN={}:1,{pools_dn}", n + 1);
        let microsoft = format!("CN=Microsoft,{pool}");
        let service = format!("CN=Lc Services,{microsoft}");
        containers.extend([pool, microsoft, service.clone()]);
        pool_dns.push((fqdn.clone(), service));
    }
    for container in &containers {
        add(&mut out, container, "container");
        out.push('\n');
    }
    let pool_dn: HashMap<&str, &str> = pool_dns
        .iter()
        .map(|(f, d)| (f.as_str(), d.as_str()))
        .collect();
    let dn_of: HashMap<UserId, &str> = users
        .iter()
        .map(|u| (u.id, u.ad.distinguished_name.as_str()))
        .collect();
    let mut memberships: Vec<(String, &str)> = Vec::new();
    for user in users {
        let ad = &user.ad;
        add(&mut out, &ad.distinguished_name, "user");
        let _ = writeln!(
            out,
            "objectGUID:: {}",
            base64::engine::general_purpose::STANDARD.encode(user.id.0.to_bytes_le())
        );
        line(&mut out, "sAMAccountName", &ad.sam_account_name);
        line(&mut out, "userPrincipalName", &ad.user_principal_name);
        line(&mut out, "displayName", &ad.display_name);
        if !ad.department.is_empty() {
            line(&mut out, "department", &ad.department);
        }
        if !ad.title.is_empty() {
            line(&mut out, "title", &ad.title);
        }
        if let Some(employee_id) = &ad.employee_id {
            line(&mut out, "employeeID", employee_id);
        }
        line(&mut out, "mail", &ad.user_principal_name);
        if let Some(manager) = ad.manager.and_then(|m| dn_of.get(&m)) {
            line(&mut out, "manager", manager);
        }
        // NORMAL_ACCOUNT (512), plus ACCOUNTDISABLE (2).
        let uac = if ad.account_disabled { 514 } else { 512 };
        let _ = writeln!(out, "userAccountControl: {uac}");
        if user.protected() {
            out.push_str("adminCount: 1\n");
            for group in &ad.protected_groups {
                if BUILTIN_PROTECTED.contains(&group.as_str()) {
                    memberships.push((
                        format!("CN={group},CN=Users,{base_dn}"),
                        &ad.distinguished_name,
                    ));
                }
            }
        }
        if let Some(lync) = &user.lync {
            line(
                &mut out,
                "msRTCSIP-PrimaryUserAddress",
                &lync.sip_address.to_string(),
            );
            line(
                &mut out,
                "msRTCSIP-UserEnabled",
                if lync.enabled { "TRUE" } else { "FALSE" },
            );
            line(
                &mut out,
                "msRTCSIP-DeploymentLocator",
                &lync.hosting_provider,
            );
            if let Some(pool) = lync.registrar_pool.as_deref().and_then(|p| pool_dn.get(p)) {
                line(&mut out, "msRTCSIP-PrimaryHomeServer", pool);
            }
            if let Some(uri) = &lync.line_uri {
                line(&mut out, "msRTCSIP-Line", uri);
            }
            let flags = OPTION_FLAGS
                + if lync.enterprise_voice_enabled {
                    ENTERPRISE_VOICE
                } else {
                    0
                };
            let _ = writeln!(out, "msRTCSIP-OptionFlags: {flags}");
        }
        out.push('\n');
    }
    for (group, member) in memberships {
        line(&mut out, "dn", &group);
        out.push_str("changetype: modify\nadd: member\n");
        line(&mut out, "member", member);
        out.push_str("-\n\n");
    }
    Ok(Lab {
        ldif: out,
        pools: pool_dns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::sim::generate;
    use time::macros::datetime;

    #[test]
    fn every_user_and_pool_is_written_once_with_its_guid() {
        let users = generate::directory(2_000, 3, datetime!(2026-11-23 12:00 UTC));
        assert!(users.iter().any(DirectoryUser::protected));
        let written = lab(&users, "DC=contoso,DC=com").unwrap();
        let records = written.ldif.matches("\nobjectClass: user\n").count();
        assert_eq!(records, users.len());
        assert_eq!(written.ldif.matches("objectGUID:: ").count(), users.len());
        assert_eq!(written.pools.len(), 3, "{:?}", written.pools);
        for (_, dn) in &written.pools {
            assert_eq!(written.ldif.matches(&format!("dn: {dn}\n")).count(), 1);
        }
        assert!(written.ldif.contains("msRTCSIP-UserEnabled: FALSE"));
        assert!(
            written
                .ldif
                .contains("CN=Domain Admins,CN=Users,DC=contoso,DC=com")
                || written
                    .ldif
                    .contains("CN=Enterprise Admins,CN=Users,DC=contoso,DC=com")
        );
        assert!(lab(&users, "DC=fabrikam,DC=com").is_err());
    }

    #[test]
    fn values_ldif_cannot_carry_plainly_are_base64() {
        let mut out = String::new();
        line(&mut out, "displayName", "José Núñez");
        line(&mut out, "title", " leading space");
        line(&mut out, "department", "Sales");
        assert_eq!(
            out,
            "displayName:: Sm9zw6kgTsO6w7Fleg==\ntitle:: IGxlYWRpbmcgc3BhY2U=\ndepartment: Sales\n"
        );
    }
}
