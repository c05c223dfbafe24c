//! The embedded simulator: a deterministic AD + Lync deployment in memory, with a controllable
//! clock, that behaves as DOMAIN.md's method table says (delays included).
//!
//! It is the default deployment and the test double for everything above the [`DirectorySource`]
//! and [`LyncShell`] traits: it implements both, and unlike AD over LDAP it also knows what only
//! the Lync server knows (certificates, signed-in sessions, contacts, conferences, policies).
//! Besides the cmdlets it offers demo controls a real deployment would not take from deprov
//! (disable an AD account, advance the clock, sign a client in).

pub mod churn;
mod clock;
pub mod generate;
mod names;

pub use clock::SimClock;

use super::{
    BackendError, CmdletOutput, DirectoryRead, DirectorySource, LyncOnly, LyncShell, Watermark,
};
use crate::timing::{REMOVAL_DISCONNECT, REVOCATION_DELAY, TEMPORARY_DISABLE_GRACE};
use async_trait::async_trait;
use deprov_wire::cmdlet::Cmdlet;
use deprov_wire::directory::{
    DirectoryUser, Endpoint, Fact, LyncAccount, ON_PREMISES_HOSTING_PROVIDER, PolicyAssignment,
    SignInMethod, SipAddress, UserId, registrar_pools,
};
use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use time::OffsetDateTime;
use tokio::sync::Notify;

/// What the simulated deployment looks like.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub users: usize,
    pub seed: u64,
}

/// Why the simulated Lync server turned a sign-in away.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignInRefused {
    #[error("no Lync user has that SIP address")]
    UnknownAddress,
    #[error("the user is not enabled for Lync")]
    LyncDisabled,
    #[error("Windows sign-in failed: the AD account is disabled")]
    AdDisabled,
    #[error("no valid client certificate")]
    NoValidCertificate,
}

/// What an injected fault does to the next call of a cmdlet (tests and demos of failure handling).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The shell answers with an error; nothing changes.
    Fail,
    /// No answer, ever; nothing changes (the caller's timeout fires).
    Hang,
    /// The change is made, then no answer: the caller must read the user back to know.
    HangAfterApplying,
    /// The change is made and answered after a second, as a busy Lync server would.
    Slow,
    /// The change is made, but signed-in clients ignore it (unpatched clients, as the article
    /// saw): after Set-CsUser -Enabled $false their IM and meetings keep working.
    UnpatchedClients,
}

/// A fault for the next `times` calls of the cmdlet named `cmdlet` ("Set-CsUser", "Disable-CsUser"...).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Fault {
    pub cmdlet: String,
    pub kind: FaultKind,
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}

pub struct Simulator {
    clock: SimClock,
    state: RwLock<SimState>,
    changes: Notify,
    faults: std::sync::Mutex<Vec<Fault>>,
}

struct SimState {
    users: Vec<DirectoryUser>,
    by_id: HashMap<UserId, usize>,
    /// Lower-cased UPN, SIP address (without `sip:`) and sAMAccountName → user, for `-Identity`.
    by_identity: HashMap<String, usize>,
    pools: Vec<String>,
    usn: u64,
    /// Export-CsUserData files by name.
    exports: HashMap<String, UserDataExport>,
}

/// What Export-CsUserData saves: the user's contact list and conferences.
#[derive(Debug, Clone)]
struct UserDataExport {
    user_filter: String,
    contact_count: u32,
    conference_count: u32,
}

impl Simulator {
    /// A generated directory on a clock that runs from `clock`'s start.
    pub fn new(config: &SimConfig, clock: SimClock) -> Self {
        let users = generate::directory(config.users, config.seed, clock.now());
        Self::with_users(users, clock)
    }

    /// A simulator over the given users (tests build small, exact directories this way).
    pub fn with_users(users: Vec<DirectoryUser>, clock: SimClock) -> Self {
        let pools = registrar_pools(&users);
        let usn = users.iter().map(|u| u.usn_changed).max().unwrap_or(0);
        let mut state = SimState {
            by_id: users.iter().enumerate().map(|(i, u)| (u.id, i)).collect(),
            by_identity: HashMap::with_capacity(users.len() * 3),
            users,
            pools,
            usn,
            exports: HashMap::new(),
        };
        for index in 0..state.users.len() {
            state.index_identities(index);
        }
        Self {
            clock,
            state: RwLock::new(state),
            changes: Notify::new(),
            faults: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Makes the next `fault.times` calls of `fault.cmdlet` fail or hang.
    pub fn inject(&self, fault: Fault) {
        self.faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(fault);
    }

    /// Removes every injected fault.
    pub fn clear_faults(&self) {
        self.faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// The fault for this call of `cmdlet`, if one is armed (and uses it up).
    fn take_fault(&self, cmdlet: &str) -> Option<FaultKind> {
        let mut faults = self.faults.lock().unwrap_or_else(|p| p.into_inner());
        let index = faults
            .iter()
            .position(|f| f.cmdlet.eq_ignore_ascii_case(cmdlet) && f.times > 0)?;
        let kind = faults[index].kind;
        faults[index].times -= 1;
        if faults[index].times == 0 {
            faults.remove(index);
        }
        Some(kind)
    }

    /// Moves the clock forward (demo control and tests) and wakes readers: expiries may have passed.
    pub fn advance_clock(&self, by: time::Duration) {
        self.clock.advance(by);
        self.changes.notify_waiters();
    }

    fn read(&self) -> RwLockReadGuard<'_, SimState> {
        self.state
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, SimState> {
        self.state
            .write()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Applies `change` to one user and records it as an AD change (new uSNChanged).
    fn change_user<T>(
        &self,
        id: UserId,
        change: impl FnOnce(&mut DirectoryUser, OffsetDateTime) -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        let now = self.clock.now();
        let mut state = self.write();
        let index = *state
            .by_id
            .get(&id)
            .ok_or_else(|| BackendError::UserNotFound(id.to_string()))?;
        let result = state.commit(index, now, change)?;
        drop(state);
        self.changes.notify_waiters();
        Ok(result)
    }

    /// Demo control: set ACCOUNTDISABLE on the AD account. Lync is not told (that is the point).
    pub fn ad_disable(&self, id: UserId) -> Result<(), BackendError> {
        self.change_user(id, |user, now| {
            if !user.ad.account_disabled {
                user.ad.account_disabled = true;
                user.ad.disabled_since = Some(now);
                user.ad.when_changed = now;
            }
            Ok(())
        })
    }

    /// Demo control: clear ACCOUNTDISABLE.
    pub fn ad_enable(&self, id: UserId) -> Result<(), BackendError> {
        self.change_user(id, |user, now| {
            if user.ad.account_disabled {
                user.ad.account_disabled = false;
                user.ad.disabled_since = None;
                user.ad.when_changed = now;
            }
            Ok(())
        })
    }

    /// A client tries to sign in as `address`: Windows (Kerberos/NTLM) needs an enabled AD account;
    /// a client certificate needs none, only an unexpired, unrevoked certificate.
    pub fn sign_in(
        &self,
        address: &SipAddress,
        with: SignInMethod,
        device: &str,
    ) -> Result<(), SignInRefused> {
        let key = address.without_scheme().to_lowercase();
        let id = {
            let state = self.read();
            let index = *state
                .by_identity
                .get(&key)
                .ok_or(SignInRefused::UnknownAddress)?;
            let user = &state.users[index];
            // by_identity also holds UPNs and names: only the current SIP address signs in.
            match &user.lync {
                Some(lync) if lync.sip_address.without_scheme().eq_ignore_ascii_case(&key) => {
                    user.id
                }
                _ => return Err(SignInRefused::UnknownAddress),
            }
        };
        let outcome = self.change_user(id, |user, now| {
            let lync = user.lync.as_ref().expect("checked above");
            if !lync.enabled {
                return Ok(Err(SignInRefused::LyncDisabled));
            }
            let allowed = match with {
                SignInMethod::Windows if user.ad.account_disabled => Err(SignInRefused::AdDisabled),
                SignInMethod::Windows => Ok(()),
                SignInMethod::ClientCertificate
                    if !lync
                        .usable_certificates(now)
                        .is_known_and(|c| !c.is_empty()) =>
                {
                    Err(SignInRefused::NoValidCertificate)
                }
                SignInMethod::ClientCertificate => Ok(()),
            };
            if allowed.is_ok() {
                known(&mut user.endpoints).push(Endpoint {
                    device: device.to_owned(),
                    signed_in_with: with,
                    signed_in_at: now,
                    features_blocked_from: None,
                    disconnect_at: None,
                });
            }
            Ok(allowed)
        });
        outcome.map_err(|_| SignInRefused::UnknownAddress)?
    }

    /// A user as the deployment would report it at `now`: sessions already disconnected are gone.
    fn view(user: &DirectoryUser, now: OffsetDateTime) -> DirectoryUser {
        let mut view = user.clone();
        known(&mut view.endpoints).retain(|endpoint| endpoint.connected(now));
        view
    }
}

impl SimState {
    fn index_identities(&mut self, index: usize) {
        let user = &self.users[index];
        let mut keys = vec![
            user.ad.user_principal_name.to_lowercase(),
            user.ad.sam_account_name.to_lowercase(),
        ];
        if let Some(lync) = &user.lync {
            keys.push(lync.sip_address.without_scheme().to_lowercase());
        }
        for key in keys {
            self.by_identity.insert(key, index);
        }
    }

    fn unindex_identities(&mut self, index: usize) {
        let user = &self.users[index];
        let mut keys = vec![
            user.ad.user_principal_name.to_lowercase(),
            user.ad.sam_account_name.to_lowercase(),
        ];
        if let Some(lync) = &user.lync {
            keys.push(lync.sip_address.without_scheme().to_lowercase());
        }
        for key in keys {
            if self.by_identity.get(&key) == Some(&index) {
                self.by_identity.remove(&key);
            }
        }
    }

    /// Resolves `-Identity` as Lync does: UPN, SIP address (with or without `sip:`),
    /// sAMAccountName (with or without the NetBIOS domain) or objectGUID.
    fn resolve(&self, identity: &str, cmdlet: &'static str) -> Result<usize, BackendError> {
        let key = identity.trim().to_lowercase();
        let key = key.strip_prefix("sip:").unwrap_or(&key);
        let key = key.rsplit_once('\\').map_or(key, |(_, sam)| sam);
        self.by_identity
            .get(key)
            .copied()
            .or_else(|| {
                key.parse()
                    .ok()
                    .and_then(|id| self.by_id.get(&UserId(id)).copied())
            })
            .ok_or_else(|| BackendError::CommandFailed {
                cmdlet,
                message: format!("Management object not found for identity \"{identity}\"."),
            })
    }

    /// Runs `change` on one user; if it succeeds, stamps a new uSNChanged and re-indexes names.
    fn commit<T>(
        &mut self,
        index: usize,
        now: OffsetDateTime,
        change: impl FnOnce(&mut DirectoryUser, OffsetDateTime) -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        self.unindex_identities(index);
        let result = change(&mut self.users[index], now);
        if result.is_ok() {
            self.usn += 1;
            self.users[index].usn_changed = self.usn;
        }
        self.index_identities(index);
        result
    }

    /// Unpatched clients: the sessions of the user `cmdlet` names keep working as if nothing ran.
    fn sessions_ignore(&mut self, cmdlet: &Cmdlet) {
        let identity =
            cmdlet
                .parameters()
                .into_iter()
                .find_map(|(name, value)| match (name, value) {
                    ("Identity", deprov_wire::cmdlet::ParameterValue::Text(text)) => Some(text),
                    _ => None,
                });
        if let Some(index) = identity.and_then(|i| self.resolve(&i, cmdlet.name()).ok()) {
            for endpoint in known(&mut self.users[index].endpoints) {
                endpoint.features_blocked_from = None;
            }
        }
    }

    fn sip_in_use(&self, sip: &SipAddress) -> bool {
        self.by_identity
            .get(&sip.without_scheme().to_lowercase())
            .is_some_and(|&index| {
                self.users[index]
                    .lync
                    .as_ref()
                    .is_some_and(|lync| lync.sip_address == *sip)
            })
    }

    fn lync_user<'a>(
        user: &'a mut DirectoryUser,
        cmdlet: &'static str,
    ) -> Result<&'a mut LyncAccount, BackendError> {
        let upn = user.ad.user_principal_name.clone();
        user.lync.as_mut().ok_or_else(|| BackendError::CommandFailed {
            cmdlet,
            message: format!("Management object not found for identity \"{upn}\": the user is not enabled for Lync."),
        })
    }

    /// The effect of one cmdlet, with the delays DOMAIN.md describes.
    fn run(&mut self, cmdlet: &Cmdlet, now: OffsetDateTime) -> Result<CmdletOutput, BackendError> {
        let name = cmdlet.name();
        let done = |text: String| Ok(CmdletOutput { text });
        match cmdlet {
            Cmdlet::SetCsUserEnabled { identity, enabled } => {
                let index = self.resolve(identity, name)?;
                let enabled = *enabled;
                self.commit(index, now, |user, now| {
                    let lync = Self::lync_user(user, name)?;
                    if lync.enabled != enabled {
                        lync.enabled = enabled;
                        lync.enabled_changed = now;
                    }
                    for endpoint in known(&mut user.endpoints)
                        .iter_mut()
                        .filter(|e| e.disconnect_at.is_none())
                    {
                        endpoint.features_blocked_from = if enabled {
                            None
                        } else {
                            // Sessions keep working for up to 5 minutes, then appear signed in but fail.
                            Some(
                                endpoint
                                    .features_blocked_from
                                    .unwrap_or(now + TEMPORARY_DISABLE_GRACE),
                            )
                        };
                    }
                    Ok(())
                })?;
                done(String::new())
            }
            Cmdlet::SetCsUserSipAddress {
                identity,
                sip_address,
            } => {
                let index = self.resolve(identity, name)?;
                let domain = self.users[index]
                    .lync
                    .as_ref()
                    .map(|l| l.sip_address.domain().to_owned());
                if domain.as_deref().is_some_and(|d| d != sip_address.domain()) {
                    return Err(BackendError::CommandFailed {
                        cmdlet: name,
                        message: format!(
                            "SIP domain \"{}\" is not a supported SIP domain.",
                            sip_address.domain()
                        ),
                    });
                }
                if self.sip_in_use(sip_address) {
                    return Err(BackendError::CommandFailed {
                        cmdlet: name,
                        message: format!("The SIP address \"{sip_address}\" is already in use."),
                    });
                }
                self.commit(index, now, |user, _| {
                    Self::lync_user(user, name)?.sip_address = sip_address.clone();
                    // A new left-hand side disconnects every session at once.
                    known(&mut user.endpoints).clear();
                    Ok(())
                })?;
                done(String::new())
            }
            Cmdlet::DisableCsUser { identity } => {
                let index = self.resolve(identity, name)?;
                self.commit(index, now, |user, now| {
                    Self::lync_user(user, name)?;
                    // Every msRTCSIP attribute, policy, contact and conference goes with it.
                    user.lync = None;
                    for endpoint in known(&mut user.endpoints) {
                        endpoint.features_blocked_from =
                            Some(endpoint.features_blocked_from.map_or(now, |t| t.min(now)));
                        endpoint.disconnect_at = Some(
                            endpoint
                                .disconnect_at
                                .map_or(now + REMOVAL_DISCONNECT, |t| {
                                    t.min(now + REMOVAL_DISCONNECT)
                                }),
                        );
                    }
                    Ok(())
                })?;
                done(String::new())
            }
            Cmdlet::EnableCsUser {
                identity,
                sip_address,
                registrar_pool,
            } => {
                let index = self.resolve(identity, name)?;
                if !self
                    .pools
                    .iter()
                    .any(|pool| pool.eq_ignore_ascii_case(registrar_pool))
                {
                    return Err(BackendError::CommandFailed {
                        cmdlet: name,
                        message: format!("Registrar pool \"{registrar_pool}\" was not found."),
                    });
                }
                if self.sip_in_use(sip_address) {
                    return Err(BackendError::CommandFailed {
                        cmdlet: name,
                        message: format!("The SIP address \"{sip_address}\" is already in use."),
                    });
                }
                self.commit(index, now, |user, now| {
                    if user.lync.is_some() {
                        return Err(BackendError::CommandFailed {
                            cmdlet: name,
                            message: "The user is already enabled for Lync Server.".to_owned(),
                        });
                    }
                    // A blank account: no contacts, conferences or policies come back by themselves.
                    user.lync = Some(LyncAccount {
                        enabled: true,
                        enabled_changed: now,
                        sip_address: sip_address.clone(),
                        registrar_pool: Some(registrar_pool.clone()),
                        hosting_provider: ON_PREMISES_HOSTING_PROVIDER.to_owned(),
                        line_uri: None,
                        enterprise_voice_enabled: false,
                        policies: Fact::Known(Vec::new()),
                        contact_count: Fact::Known(0),
                        conference_count: Fact::Known(0),
                        certificates: Fact::Known(Vec::new()),
                    });
                    Ok(())
                })?;
                done(String::new())
            }
            Cmdlet::RevokeCsClientCertificate { identity } => {
                let index = self.resolve(identity, name)?;
                let revoked = self.commit(index, now, |user, now| {
                    let lync = Self::lync_user(user, name)?;
                    let mut revoked = 0;
                    for cert in known(&mut lync.certificates)
                        .iter_mut()
                        .filter(|c| c.revoked_from.is_none())
                    {
                        // Takes effect for new sign-ins after about 3 minutes; sessions are untouched.
                        cert.revoked_from = Some(now + REVOCATION_DELAY);
                        revoked += 1;
                    }
                    Ok(revoked)
                })?;
                done(format!("{revoked} client certificate(s) revoked."))
            }
            Cmdlet::ExportCsUserData {
                pool_fqdn,
                user_filter,
                file_name,
            } => {
                let index = self.resolve(user_filter, name)?;
                let lync = Self::lync_user(&mut self.users[index], name)?;
                if !lync
                    .registrar_pool
                    .as_deref()
                    .is_some_and(|pool| pool.eq_ignore_ascii_case(pool_fqdn))
                {
                    return Err(BackendError::CommandFailed {
                        cmdlet: name,
                        message: format!(
                            "No user matching \"{user_filter}\" is homed on pool \"{pool_fqdn}\"."
                        ),
                    });
                }
                let export = UserDataExport {
                    user_filter: user_filter.to_lowercase(),
                    contact_count: *known(&mut lync.contact_count),
                    conference_count: *known(&mut lync.conference_count),
                };
                self.exports.insert(file_name.clone(), export);
                done(format!(
                    "Exported user data of {user_filter} to {file_name}."
                ))
            }
            Cmdlet::UpdateCsUserData {
                file_name,
                user_filter,
            } => {
                let export = self.exports.get(file_name).cloned().ok_or_else(|| {
                    BackendError::CommandFailed {
                        cmdlet: name,
                        message: format!("Cannot find file \"{file_name}\"."),
                    }
                })?;
                if export.user_filter != user_filter.to_lowercase() {
                    return Err(BackendError::CommandFailed {
                        cmdlet: name,
                        message: format!("\"{file_name}\" holds no data for {user_filter}."),
                    });
                }
                let index = self.resolve(user_filter, name)?;
                self.commit(index, now, |user, _| {
                    let lync = Self::lync_user(user, name)?;
                    lync.contact_count = Fact::Known(export.contact_count);
                    lync.conference_count = Fact::Known(export.conference_count);
                    Ok(())
                })?;
                done(format!("Imported user data for {user_filter}."))
            }
            Cmdlet::GrantPolicy {
                kind,
                identity,
                policy_name,
            } => {
                let index = self.resolve(identity, name)?;
                self.commit(index, now, |user, _| {
                    let policies = known(&mut Self::lync_user(user, name)?.policies);
                    policies.retain(|p| p.kind != kind.as_str());
                    policies.push(PolicyAssignment {
                        kind: kind.as_str().to_owned(),
                        name: policy_name.clone(),
                    });
                    Ok(())
                })?;
                done(String::new())
            }
        }
    }
}

/// The simulator knows everything the Lync server knows: a fact it holds is never unknown.
fn known<T: Default>(fact: &mut Fact<T>) -> &mut T {
    if fact.is_unknown() {
        *fact = Fact::Known(T::default());
    }
    match fact {
        Fact::Known(value) => value,
        Fact::Unknown => unreachable!("made known above"),
    }
}

/// The simulator's identity in a [`Watermark`]: it never fails over.
const SIMULATOR: &str = "simulator";

#[async_trait]
impl DirectorySource for Simulator {
    fn name(&self) -> &'static str {
        SIMULATOR
    }

    fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    async fn health(&self) -> Result<String, BackendError> {
        let state = self.read();
        Ok(format!(
            "simulating {} users on {} pools",
            state.users.len(),
            state.pools.len()
        ))
    }

    async fn read_directory(
        &self,
        since: Option<&Watermark>,
    ) -> Result<DirectoryRead, BackendError> {
        let now = self.clock.now();
        let state = self.read();
        let high_water = Watermark::new(SIMULATOR, state.usn);
        Ok(match since.filter(|mark| &*mark.server == SIMULATOR) {
            None => DirectoryRead::Full {
                users: state.users.iter().map(|u| Self::view(u, now)).collect(),
                high_water,
            },
            Some(mark) => DirectoryRead::Changes {
                users: state
                    .users
                    .iter()
                    .filter(|u| u.usn_changed > mark.usn)
                    .map(|u| Self::view(u, now))
                    .collect(),
                deleted: Vec::new(),
                high_water,
            },
        })
    }

    async fn read_user(&self, id: UserId) -> Result<DirectoryUser, BackendError> {
        let state = self.read();
        let index = *state
            .by_id
            .get(&id)
            .ok_or_else(|| BackendError::UserNotFound(id.to_string()))?;
        Ok(Self::view(&state.users[index], self.clock.now()))
    }

    async fn changed(&self, since: &Watermark) {
        // Registered before the check, so a change between the check and the await is not missed.
        let notified = self.changes.notified();
        if self.read().usn > since.usn {
            return;
        }
        notified.await;
    }
}

#[async_trait]
impl LyncShell for Simulator {
    fn name(&self) -> &'static str {
        SIMULATOR
    }

    async fn health(&self) -> Result<String, BackendError> {
        Ok("the simulated Lync Management Shell".to_owned())
    }

    async fn run(&self, cmdlet: &Cmdlet) -> Result<CmdletOutput, BackendError> {
        let fault = self.take_fault(cmdlet.name());
        match fault {
            Some(FaultKind::Fail) => {
                return Err(BackendError::CommandFailed {
                    cmdlet: cmdlet.name(),
                    message: "simulated failure (an injected fault): nothing was changed."
                        .to_owned(),
                });
            }
            Some(FaultKind::Hang) => std::future::pending().await,
            Some(FaultKind::Slow) => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
            _ => {}
        }
        let now = self.clock.now();
        let output = {
            let mut state = self.write();
            let output = state.run(cmdlet, now);
            if fault == Some(FaultKind::UnpatchedClients) && output.is_ok() {
                state.sessions_ignore(cmdlet);
            }
            output
        };
        self.changes.notify_waiters();
        if fault == Some(FaultKind::HangAfterApplying) {
            return std::future::pending().await;
        }
        output
    }

    async fn read_lync_only(&self, identity: &str) -> Result<LyncOnly, BackendError> {
        let state = self.read();
        let index = state.resolve(identity, "Get-CsUser")?;
        let lync = state.users[index].lync.as_ref();
        Ok(LyncOnly {
            certificates: lync
                .and_then(|l| l.certificates.known().cloned())
                .unwrap_or_default(),
            policies: lync.and_then(|l| l.policies.known().cloned()),
        })
    }
}

#[cfg(test)]
mod tests;
