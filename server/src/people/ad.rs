//! Signing in with an AD account: `user@domain` or `DOMAIN\user` and the AD password, checked by
//! an LDAP simple bind over TLS (the connection settings are the directory's `--ldap-*`); roles
//! come from the groups mapped with `--role-group`, nested groups included (the in-chain matching
//! rule), read afresh at every sign-in.

use super::{Authenticator, Principal, PrincipalSource, SignInError};
use crate::backend::ldap::entry::USERS_FILTER;
use crate::backend::ldap::settings::{BindRefusal, ConnectError, LdapSettings, connect};
use async_trait::async_trait;
use deprov_wire::people::Role;
use ldap3::{Ldap, Scope, SearchEntry, ldap_escape};

/// AD's in-chain matching rule: membership through any depth of nested groups.
const IN_CHAIN: &str = "1.2.840.113556.1.4.1941";

/// A name AD can bind: `user@domain` or `DOMAIN\user`, printable, no spaces.
pub fn is_ad_name(name: &str) -> bool {
    let shaped = match (name.split_once('@'), name.split_once('\\')) {
        (Some((user, domain)), None) => {
            !user.is_empty() && domain.contains('.') && !domain.contains('@')
        }
        (None, Some((domain, user))) => {
            !domain.is_empty() && !user.is_empty() && !user.contains('\\')
        }
        _ => false,
    };
    shaped
        && name.len() <= 256
        && name
            .chars()
            .all(|c| c.is_ascii_graphic() || (!c.is_ascii() && !c.is_control()))
}

/// AD sign-in: the connection settings, and which group gives which role.
pub struct AdSignIn {
    settings: LdapSettings,
    groups: Vec<(Role, String)>,
}

impl AdSignIn {
    pub fn new(settings: LdapSettings, groups: Vec<(Role, String)>) -> Self {
        Self { settings, groups }
    }
}

#[async_trait]
impl Authenticator for AdSignIn {
    async fn authenticate(&self, name: &str, password: &str) -> Result<Principal, SignInError> {
        // AD takes a simple bind with an empty password as anonymous, and lets it "succeed".
        if password.is_empty() {
            return Err(SignInError::EmptyPassword);
        }
        let mut ldap =
            connect(&self.settings, name, password)
                .await
                .map_err(|error| match error {
                    ConnectError::Unreachable(why) => SignInError::Unavailable(why),
                    ConnectError::Refused(BindRefusal::WrongPassword) => SignInError::Rejected,
                    ConnectError::Refused(BindRefusal::Disabled) => SignInError::Disabled,
                    ConnectError::Refused(BindRefusal::Locked) => SignInError::Locked,
                    ConnectError::Refused(BindRefusal::Expired(why)) => {
                        SignInError::Expired(why.to_owned())
                    }
                    ConnectError::Refused(BindRefusal::Other(text)) => {
                        tracing::warn!(%text, "AD refused a sign-in bind for an unexpected reason");
                        SignInError::Rejected
                    }
                })?;
        let outcome = self.principal(&mut ldap, name).await;
        let _ = ldap.unbind().await;
        outcome
    }
}

impl AdSignIn {
    /// Who bound (their entry, as that person can read it) and their roles.
    async fn principal(&self, ldap: &mut Ldap, name: &str) -> Result<Principal, SignInError> {
        let unavailable = |e: ldap3::LdapError| SignInError::Unavailable(e.to_string());
        // The person may live outside the base DN deprov reads Lync users from: search the domain.
        let (root, _) = ldap
            .with_timeout(self.settings.timeout)
            .search(
                "",
                Scope::Base,
                "(objectClass=*)",
                vec!["defaultNamingContext"],
            )
            .await
            .and_then(|r| r.success())
            .map_err(unavailable)?;
        let domain = root
            .into_iter()
            .next()
            .map(SearchEntry::construct)
            .and_then(|e| e.attrs.get("defaultNamingContext")?.first().cloned())
            .ok_or_else(|| {
                SignInError::Unavailable("the DC gave no defaultNamingContext".into())
            })?;
        let filter = match name.split_once('\\') {
            Some((_, sam)) => format!("(&{USERS_FILTER}(sAMAccountName={}))", ldap_escape(sam)),
            None => {
                let lhs = name.split('@').next().unwrap_or_default();
                format!(
                    "(&{USERS_FILTER}(|(userPrincipalName={})(sAMAccountName={})))",
                    ldap_escape(name),
                    ldap_escape(lhs)
                )
            }
        };
        let (entries, _) = ldap
            .with_timeout(self.settings.timeout)
            .search(
                &domain,
                Scope::Subtree,
                &filter,
                vec!["userPrincipalName", "sAMAccountName", "mail"],
            )
            .await
            .and_then(|r| r.success())
            .map_err(unavailable)?;
        let entries: Vec<SearchEntry> = entries.into_iter().map(SearchEntry::construct).collect();
        let text = |e: &SearchEntry, a: &str| e.attrs.get(a).and_then(|v| v.first()).cloned();
        // An exact UPN match wins over a sAMAccountName that happens to equal the left-hand side.
        let entry = entries
            .iter()
            .find(|e| text(e, "userPrincipalName").is_some_and(|u| u.eq_ignore_ascii_case(name)))
            .or(entries.first())
            .ok_or(SignInError::Rejected)?;
        let principal_name = text(entry, "userPrincipalName")
            .or_else(|| text(entry, "sAMAccountName"))
            .ok_or(SignInError::Rejected)?
            .to_lowercase();
        let mut roles = Vec::new();
        for (role, group) in &self.groups {
            if roles.contains(role) {
                continue;
            }
            let (member, _) = ldap
                .with_timeout(self.settings.timeout)
                .search(
                    group,
                    Scope::Base,
                    &format!("(member:{IN_CHAIN}:={})", ldap_escape(&entry.dn)),
                    vec!["1.1"],
                )
                .await
                .map_err(unavailable)?
                .non_error()
                .map_err(unavailable)?;
            if !member.is_empty() {
                roles.push(*role);
            }
        }
        if roles.is_empty() {
            return Err(SignInError::NoRole);
        }
        roles.sort();
        Ok(Principal {
            source: PrincipalSource::ActiveDirectory,
            name: principal_name,
            roles,
            mail: text(entry, "mail").filter(|m| !m.trim().is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::is_ad_name;

    #[test]
    fn ad_names_are_upns_or_down_level_logon_names() {
        for name in ["jdoe@contoso.com", "CONTOSO\\jdoe", "jdoe@corp.contoso.com"] {
            assert!(is_ad_name(name), "{name}");
        }
        for name in [
            "jdoe",
            "jdoe@",
            "@contoso.com",
            "a b@contoso.com",
            "x\\y\\z",
            "jdoe@localhost",
            "",
        ] {
            assert!(!is_ad_name(name), "{name}");
        }
    }
}
