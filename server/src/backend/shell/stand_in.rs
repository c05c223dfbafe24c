//! `deprov shell-stand-in`: a worker that speaks protocol 1 and applies the cmdlets the way Lync
//! does, so everything on the portal's side of the pipe can be tested for real where PowerShell
//! cannot run. With `--ldap-url` it writes AD's `msRTCSIP-*` attributes over LDAP (what
//! Set-CsUser, Disable-CsUser and Enable-CsUser change there); with none it works on the
//! simulator's generated directory. What AD cannot hold (certificates, contacts, conferences,
//! policies, exports) lives in a state file shared by all its processes, under a file lock. It
//! refuses what the real worker refuses: anything off the allowlist.

use super::protocol::{self, HELLO, PROTOCOL, Read, ReplyError, ShellCertificate, ShellUser};
use crate::backend::ldap::entry::{self, Entry, USERS_FILTER};
use crate::backend::ldap::settings::{LdapArgs, connect};
use crate::backend::sim::{SimClock, SimConfig, Simulator, generate};
use crate::backend::{BackendError, DirectorySource, LyncShell};
use crate::timing::REVOCATION_DELAY;
use clap::Args;
use deprov_wire::cmdlet::Cmdlet;
use deprov_wire::directory::UserId;
use ldap3::{Ldap, Mod, Scope, SearchEntry, ldap_escape};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::io::{Read as _, Seek, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[derive(Debug, Clone, Args)]
pub struct StandInArgs {
    /// AD to apply the cmdlets to (an account that may write users' msRTCSIP-* attributes).
    /// Without --ldap-url the stand-in works on the simulator's generated directory.
    #[command(flatten)]
    pub ldap: LdapArgs,

    /// Where what AD cannot hold is kept, shared by every stand-in process of one deployment.
    #[arg(long, value_name = "FILE")]
    pub state_file: PathBuf,

    /// The generated directory whose certificates, contacts, conferences and policies the state
    /// starts from (the lab DC holds the same users: `deprov lab-ldif`), or, without
    /// --ldap-url, the directory itself.
    #[arg(long, default_value_t = 300)]
    pub lab_users: usize,
    #[arg(long, default_value_t = 7)]
    pub lab_seed: u64,
}

/// What Lync keeps about one user outside AD.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct LyncData {
    certificates: Vec<ShellCertificate>,
    contacts: u32,
    conferences: u32,
    policies: BTreeMap<String, String>,
}

/// What Export-CsUserData wrote.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Export {
    user: UserId,
    contacts: u32,
    conferences: u32,
}

/// The shared state file.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// When the lab data was generated (the simulator's directory is generated at this moment).
    generated_at: Option<i64>,
    users: BTreeMap<UserId, LyncData>,
    exports: BTreeMap<String, Export>,
    /// Without LDAP: every cmdlet applied, in order, with when (replayed by each process).
    journal: Vec<(i64, Cmdlet)>,
}

/// The state file, locked for one call.
struct Locked {
    file: std::fs::File,
    state: State,
    /// Written back only when something changed (most calls change only AD).
    dirty: bool,
}

/// Which generated directory seeds the state, the first time.
#[derive(Clone, Copy)]
struct Lab {
    users: usize,
    seed: u64,
}

impl Locked {
    fn open(path: &Path, lab: Lab, now: OffsetDateTime) -> Result<Self, String> {
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        file.lock()
            .map_err(|e| format!("locking {}: {e}", path.display()))?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(|e| e.to_string())?;
        let mut state: State = if text.trim().is_empty() {
            State::default()
        } else {
            serde_json::from_str(&text)
                .map_err(|e| format!("{}: unreadable state: {e}", path.display()))?
        };
        let seeding = state.generated_at.is_none();
        if seeding {
            state.generated_at = Some(now.unix_timestamp());
            for user in generate::directory(lab.users, lab.seed, now) {
                if let Some(lync) = &user.lync {
                    state.users.insert(
                        user.id,
                        LyncData {
                            certificates: lync
                                .certificates
                                .known()
                                .into_iter()
                                .flatten()
                                .map(Into::into)
                                .collect(),
                            contacts: lync.contact_count.known().copied().unwrap_or(0),
                            conferences: lync.conference_count.known().copied().unwrap_or(0),
                            policies: lync
                                .policies
                                .known()
                                .into_iter()
                                .flatten()
                                .map(|p| (p.kind.clone(), p.name.clone()))
                                .collect(),
                        },
                    );
                }
            }
        }
        Ok(Self {
            file,
            state,
            dirty: seeding,
        })
    }

    /// The state, to change: it will be written back.
    fn state_mut(&mut self) -> &mut State {
        self.dirty = true;
        &mut self.state
    }

    fn save(mut self) -> Result<(), String> {
        if !self.dirty {
            return Ok(()); // The lock ends with the file.
        }
        let text = serde_json::to_string(&self.state).map_err(|e| e.to_string())?;
        self.file.set_len(0).map_err(|e| e.to_string())?;
        self.file.rewind().map_err(|e| e.to_string())?;
        self.file
            .write_all(text.as_bytes())
            .map_err(|e| e.to_string())?;
        self.file.sync_all().map_err(|e| e.to_string())
        // The lock ends with the file.
    }
}

fn failure(kind: &str, message: impl Into<String>) -> ReplyError {
    ReplyError {
        kind: kind.to_owned(),
        message: message.into(),
        fqid: String::new(),
    }
}

fn not_found(identity: &str) -> ReplyError {
    failure(
        "not_found",
        format!("Management object not found for identity \"{identity}\"."),
    )
}

/// Where the cmdlets apply.
enum Directory {
    Ldap {
        ldap: Ldap,
        // Boxed: the settings are large beside the simulated variant.
        args: Box<LdapArgs>,
    },
    Simulated {
        sim: Arc<Simulator>,
        replayed: usize,
    },
}

struct StandIn {
    directory: Directory,
    state_file: PathBuf,
    lab: Lab,
}

/// Runs the stand-in on stdin and stdout until stdin ends.
pub async fn run(args: StandInArgs) -> Result<(), String> {
    let now = OffsetDateTime::now_utc();
    let lab = Lab {
        users: args.lab_users,
        seed: args.lab_seed,
    };
    // The moment the lab was generated: the first process records it, every other one reuses it,
    // so they all see the same simulated directory.
    let generated_at = {
        let locked = Locked::open(&args.state_file, lab, now)?;
        let at = locked.state.generated_at.unwrap_or(now.unix_timestamp());
        locked.save()?;
        OffsetDateTime::from_unix_timestamp(at).unwrap_or(now)
    };
    let stand_in = StandIn {
        directory: match &args.ldap.ldap_url {
            Some(_) => {
                let settings = args.ldap.settings()?;
                let ldap = connect(
                    &settings,
                    &settings.bind_dn,
                    settings.bind_password.expose(),
                )
                .await
                .map_err(|e| e.to_string())?;
                Directory::Ldap {
                    ldap,
                    args: Box::new(args.ldap.clone()),
                }
            }
            None => Directory::Simulated {
                sim: Arc::new(Simulator::new(
                    &SimConfig {
                        users: lab.users,
                        seed: lab.seed,
                    },
                    SimClock::frozen(generated_at),
                )),
                replayed: 0,
            },
        },
        state_file: args.state_file.clone(),
        lab,
    };
    let detail = match &stand_in.directory {
        Directory::Ldap { args, .. } => format!(
            "stand-in on AD at {}",
            args.ldap_url.as_deref().unwrap_or("?")
        ),
        Directory::Simulated { .. } => format!("stand-in on {} simulated users", args.lab_users),
    };
    let mut stdout = tokio::io::stdout();
    let hello = serde_json::json!({ "hello": HELLO, "protocol": PROTOCOL, "ready": true, "detail": detail });
    stdout
        .write_all(format!("{hello}\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    stdout.flush().await.map_err(|e| e.to_string())?;

    let mut stand_in = stand_in;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await.map_err(|e| e.to_string())? {
        let Ok(request @ Value::Object(_)) = serde_json::from_str::<Value>(&line) else {
            eprintln!("stand-in: a request that is not a JSON object was ignored");
            continue;
        };
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        let answer = if request.get("ping").is_some() {
            Ok(serde_json::json!({ "pong": true }))
        } else {
            match protocol::parse_call(&request) {
                Err(refusal) => Err(refusal),
                Ok((name, parameters)) => stand_in.call(&name, &parameters).await,
            }
        };
        let reply = match answer {
            Ok(output) => {
                serde_json::json!({ "id": id, "ok": true, "output": output, "warnings": [] })
            }
            Err(error) => serde_json::json!({ "id": id, "ok": false, "error": error }),
        };
        stdout
            .write_all(format!("{reply}\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        stdout.flush().await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

impl StandIn {
    async fn call(
        &mut self,
        name: &str,
        parameters: &serde_json::Map<String, Value>,
    ) -> Result<Value, ReplyError> {
        let now = OffsetDateTime::now_utc();
        let mut locked = Locked::open(&self.state_file, self.lab, now)
            .map_err(|e| failure("cmdlet_failed", e))?;
        let identity = parameters
            .get("Identity")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let read = [Read::GetCsUser, Read::GetCsClientCertificate]
            .into_iter()
            .find(|r| r.name() == name);
        let outcome = match (&mut self.directory, read) {
            (Directory::Simulated { sim, replayed }, read) => {
                // Catch up with what other stand-in processes applied, then keep up with the wall clock.
                for (at, cmdlet) in locked.state.journal.iter().skip(*replayed) {
                    advance_to(sim, OffsetDateTime::from_unix_timestamp(*at).unwrap_or(now));
                    let _ = sim.run(cmdlet).await;
                }
                *replayed = locked.state.journal.len();
                advance_to(sim, now);
                match read {
                    Some(read) => simulated_read(sim, read, &identity).await,
                    None => {
                        let cmdlet = protocol::cmdlet_of(name, parameters)
                            .map_err(|e| failure("invalid_parameter", e))?
                            .ok_or_else(|| {
                                failure("not_allowed", format!("The worker does not run '{name}'."))
                            })?;
                        let done = sim.run(&cmdlet).await.map_err(shell_failure)?;
                        locked
                            .state_mut()
                            .journal
                            .push((now.unix_timestamp(), cmdlet));
                        *replayed += 1;
                        Ok(if done.text.is_empty() {
                            Value::Null
                        } else {
                            Value::String(done.text)
                        })
                    }
                }
            }
            (Directory::Ldap { ldap, args }, Some(read)) => {
                ldap_read(ldap, args, &locked.state, read, &identity).await
            }
            (Directory::Ldap { ldap, args }, None) => {
                let cmdlet = protocol::cmdlet_of(name, parameters)
                    .map_err(|e| failure("invalid_parameter", e))?
                    .ok_or_else(|| {
                        failure("not_allowed", format!("The worker does not run '{name}'."))
                    })?;
                ldap_run(ldap, args, &mut locked, &cmdlet, now).await
            }
        };
        locked.save().map_err(|e| failure("cmdlet_failed", e))?;
        outcome
    }
}

fn advance_to(sim: &Simulator, at: OffsetDateTime) {
    let behind = at - sim.now();
    if behind.is_positive() {
        sim.advance_clock(behind);
    }
}

fn shell_failure(error: BackendError) -> ReplyError {
    match error {
        BackendError::CommandFailed { message, .. } if message.contains("not found") => {
            failure("not_found", message)
        }
        BackendError::UserNotFound(identity) => not_found(&identity),
        other => failure("cmdlet_failed", other.to_string()),
    }
}

async fn simulated_read(sim: &Simulator, read: Read, identity: &str) -> Result<Value, ReplyError> {
    let known = sim.read_lync_only(identity).await.map_err(shell_failure)?;
    match read {
        Read::GetCsClientCertificate => Ok(serde_json::to_value(
            known
                .certificates
                .iter()
                .map(ShellCertificate::from)
                .collect::<Vec<_>>(),
        )
        .expect("certificates serialise")),
        Read::GetCsUser => {
            let policies = known.policies.ok_or_else(|| not_found(identity))?;
            Ok(serde_json::to_value(ShellUser {
                identity: identity.to_owned(),
                policies: policies.into_iter().map(|p| (p.kind, p.name)).collect(),
                ..ShellUser::default()
            })
            .expect("a user serialises"))
        }
    }
}

/// A user found by `-Identity` as Lync resolves it: UPN, SIP address, `DOMAIN\sam`, sam, objectGUID.
async fn find(ldap: &mut Ldap, args: &LdapArgs, identity: &str) -> Result<Entry, ReplyError> {
    let trimmed = identity.trim();
    let clause = if let Some(sip) = trimmed.strip_prefix("sip:") {
        format!("(msRTCSIP-PrimaryUserAddress=sip:{})", ldap_escape(sip))
    } else if let Ok(id) = trimmed.parse::<uuid::Uuid>() {
        entry::guid_filter(UserId(id))
    } else if let Some((_, sam)) = trimmed.split_once('\\') {
        format!("(sAMAccountName={})", ldap_escape(sam))
    } else if trimmed.contains('@') {
        format!(
            "(|(userPrincipalName={0})(msRTCSIP-PrimaryUserAddress=sip:{0}))",
            ldap_escape(trimmed)
        )
    } else {
        format!("(sAMAccountName={})", ldap_escape(trimmed))
    };
    let base = args.ldap_base_dn.clone().unwrap_or_default();
    let (found, _) = ldap
        .search(
            &base,
            Scope::Subtree,
            &format!("(&{USERS_FILTER}{clause})"),
            entry::USER_ATTRIBUTES.to_vec(),
        )
        .await
        .and_then(|r| r.success())
        .map_err(|e| failure("cmdlet_failed", format!("reading AD: {e}")))?;
    let mut found = found
        .into_iter()
        .map(|e| Entry::from(SearchEntry::construct(e)));
    match (found.next(), found.next()) {
        (Some(entry), None) => Ok(entry),
        (Some(_), Some(_)) => Err(failure(
            "cmdlet_failed",
            format!("\"{identity}\" matches more than one user."),
        )),
        (None, _) => Err(not_found(identity)),
    }
}

async fn sip_in_use(ldap: &mut Ldap, args: &LdapArgs, sip: &str) -> Result<bool, ReplyError> {
    let base = args.ldap_base_dn.clone().unwrap_or_default();
    let (found, _) = ldap
        .search(
            &base,
            Scope::Subtree,
            &format!("(msRTCSIP-PrimaryUserAddress={})", ldap_escape(sip)),
            vec!["1.1"],
        )
        .await
        .and_then(|r| r.success())
        .map_err(|e| failure("cmdlet_failed", format!("reading AD: {e}")))?;
    Ok(!found.is_empty())
}

async fn modify(ldap: &mut Ldap, dn: &str, changes: Vec<Mod<String>>) -> Result<(), ReplyError> {
    ldap.modify(dn, changes)
        .await
        .and_then(|r| r.success())
        .map(|_| ())
        .map_err(|e| failure("cmdlet_failed", format!("writing AD: {e}")))
}

fn one(value: &str) -> HashSet<String> {
    HashSet::from([value.to_owned()])
}

/// The pool FQDN a home-server DN maps to (`--ldap-pool`), and back.
fn pools(args: &LdapArgs) -> Vec<(String, String)> {
    args.ldap_pools
        .iter()
        .filter_map(|m| {
            m.split_once('=')
                .map(|(f, d)| (f.to_ascii_lowercase(), d.to_owned()))
        })
        .collect()
}

async fn ldap_read(
    ldap: &mut Ldap,
    args: &LdapArgs,
    state: &State,
    read: Read,
    identity: &str,
) -> Result<Value, ReplyError> {
    let entry = find(ldap, args, identity).await?;
    let id = entry.object_guid().ok_or_else(|| not_found(identity))?;
    let data = state.users.get(&id).cloned().unwrap_or_default();
    match read {
        Read::GetCsClientCertificate => {
            Ok(serde_json::to_value(data.certificates).expect("serialises"))
        }
        Read::GetCsUser => {
            let sip = entry
                .text("msRTCSIP-PrimaryUserAddress")
                .ok_or_else(|| not_found(identity))?;
            let pool = entry.text("msRTCSIP-PrimaryHomeServer").map(|dn| {
                pools(args)
                    .into_iter()
                    .find(|(_, d)| d.eq_ignore_ascii_case(dn))
                    .map_or_else(|| dn.to_owned(), |(f, _)| f)
            });
            Ok(serde_json::to_value(ShellUser {
                identity: entry.dn.clone(),
                sip_address: sip.to_owned(),
                enabled: entry
                    .text("msRTCSIP-UserEnabled")
                    .is_some_and(|v| v.eq_ignore_ascii_case("TRUE")),
                registrar_pool: pool.unwrap_or_default(),
                policies: data.policies,
            })
            .expect("serialises"))
        }
    }
}

/// What Lync changes in AD (and in its own store) for each cmdlet.
async fn ldap_run(
    ldap: &mut Ldap,
    args: &LdapArgs,
    locked: &mut Locked,
    cmdlet: &Cmdlet,
    now: OffsetDateTime,
) -> Result<Value, ReplyError> {
    let lync_user = |entry: &Entry, identity: &str| -> Result<String, ReplyError> {
        entry
            .text("msRTCSIP-PrimaryUserAddress")
            .map(str::to_owned)
            .ok_or_else(|| failure("not_found", format!("Management object not found for identity \"{identity}\": the user is not enabled for Lync.")))
    };
    match cmdlet {
        Cmdlet::SetCsUserEnabled { identity, enabled } => {
            let entry = find(ldap, args, identity).await?;
            lync_user(&entry, identity)?;
            let value = if *enabled { "TRUE" } else { "FALSE" };
            modify(
                ldap,
                &entry.dn,
                vec![Mod::Replace("msRTCSIP-UserEnabled".into(), one(value))],
            )
            .await?;
        }
        Cmdlet::SetCsUserSipAddress {
            identity,
            sip_address,
        } => {
            let entry = find(ldap, args, identity).await?;
            let current = lync_user(&entry, identity)?;
            let domain = current
                .rsplit_once('@')
                .map(|(_, d)| d.to_ascii_lowercase())
                .unwrap_or_default();
            if domain != sip_address.domain() {
                return Err(failure(
                    "cmdlet_failed",
                    format!(
                        "SIP domain \"{}\" is not a supported SIP domain.",
                        sip_address.domain()
                    ),
                ));
            }
            if sip_in_use(ldap, args, &sip_address.to_string()).await? {
                return Err(failure(
                    "cmdlet_failed",
                    format!("The SIP address \"{sip_address}\" is already in use."),
                ));
            }
            modify(
                ldap,
                &entry.dn,
                vec![Mod::Replace(
                    "msRTCSIP-PrimaryUserAddress".into(),
                    one(&sip_address.to_string()),
                )],
            )
            .await?;
        }
        Cmdlet::DisableCsUser { identity } => {
            let entry = find(ldap, args, identity).await?;
            lync_user(&entry, identity)?;
            // Every msRTCSIP attribute goes, and with them what Lync kept (contacts, conferences, policies).
            let present: Vec<Mod<String>> = entry::LYNC_ATTRIBUTES
                .iter()
                .filter(|a| entry.text(a).is_some())
                .map(|a| Mod::Delete((*a).to_owned(), HashSet::new()))
                .collect();
            modify(ldap, &entry.dn, present).await?;
            if let Some(id) = entry.object_guid() {
                locked.state_mut().users.remove(&id);
            }
        }
        Cmdlet::EnableCsUser {
            identity,
            sip_address,
            registrar_pool,
        } => {
            let entry = find(ldap, args, identity).await?;
            if entry.text("msRTCSIP-PrimaryUserAddress").is_some() {
                return Err(failure(
                    "cmdlet_failed",
                    "The user is already enabled for Lync Server.",
                ));
            }
            let Some((_, pool_dn)) = pools(args)
                .into_iter()
                .find(|(f, _)| f.eq_ignore_ascii_case(registrar_pool))
            else {
                return Err(failure(
                    "cmdlet_failed",
                    format!("Registrar pool \"{registrar_pool}\" was not found."),
                ));
            };
            if sip_in_use(ldap, args, &sip_address.to_string()).await? {
                return Err(failure(
                    "cmdlet_failed",
                    format!("The SIP address \"{sip_address}\" is already in use."),
                ));
            }
            modify(
                ldap,
                &entry.dn,
                vec![
                    Mod::Replace(
                        "msRTCSIP-PrimaryUserAddress".into(),
                        one(&sip_address.to_string()),
                    ),
                    Mod::Replace("msRTCSIP-UserEnabled".into(), one("TRUE")),
                    Mod::Replace("msRTCSIP-PrimaryHomeServer".into(), one(&pool_dn)),
                    Mod::Replace("msRTCSIP-DeploymentLocator".into(), one("SRV:")),
                    Mod::Replace("msRTCSIP-OptionFlags".into(), one("257")),
                ],
            )
            .await?;
            if let Some(id) = entry.object_guid() {
                // A blank account: nothing comes back by itself.
                locked.state_mut().users.insert(id, LyncData::default());
            }
        }
        Cmdlet::RevokeCsClientCertificate { identity } => {
            let entry = find(ldap, args, identity).await?;
            lync_user(&entry, identity)?;
            let id = entry.object_guid().ok_or_else(|| not_found(identity))?;
            let data = locked.state_mut().users.entry(id).or_default();
            let mut revoked = 0;
            for certificate in data
                .certificates
                .iter_mut()
                .filter(|c| c.revoked_from.is_none())
            {
                certificate.revoked_from = Some(now + REVOCATION_DELAY);
                revoked += 1;
            }
            return Ok(Value::String(format!(
                "{revoked} client certificate(s) revoked."
            )));
        }
        Cmdlet::ExportCsUserData {
            pool_fqdn,
            user_filter,
            file_name,
        } => {
            let entry = find(ldap, args, user_filter).await?;
            lync_user(&entry, user_filter)?;
            let homed = entry.text("msRTCSIP-PrimaryHomeServer").unwrap_or_default();
            let on_pool = pools(args)
                .into_iter()
                .any(|(f, d)| f.eq_ignore_ascii_case(pool_fqdn) && d.eq_ignore_ascii_case(homed));
            if !on_pool {
                return Err(failure(
                    "cmdlet_failed",
                    format!("No user matching \"{user_filter}\" is homed on pool \"{pool_fqdn}\"."),
                ));
            }
            let id = entry.object_guid().ok_or_else(|| not_found(user_filter))?;
            let data = locked.state.users.get(&id).cloned().unwrap_or_default();
            locked.state_mut().exports.insert(
                file_name.clone(),
                Export {
                    user: id,
                    contacts: data.contacts,
                    conferences: data.conferences,
                },
            );
            return Ok(Value::String(format!(
                "Exported user data of {user_filter} to {file_name}."
            )));
        }
        Cmdlet::UpdateCsUserData {
            file_name,
            user_filter,
        } => {
            let export = locked
                .state
                .exports
                .get(file_name)
                .cloned()
                .ok_or_else(|| {
                    failure(
                        "cmdlet_failed",
                        format!("Cannot find file \"{file_name}\"."),
                    )
                })?;
            let entry = find(ldap, args, user_filter).await?;
            if entry.object_guid() != Some(export.user) {
                return Err(failure(
                    "cmdlet_failed",
                    format!("\"{file_name}\" holds no data for {user_filter}."),
                ));
            }
            let data = locked.state_mut().users.entry(export.user).or_default();
            (data.contacts, data.conferences) = (export.contacts, export.conferences);
            return Ok(Value::String(format!(
                "Imported user data for {user_filter}."
            )));
        }
        Cmdlet::GrantPolicy {
            kind,
            identity,
            policy_name,
        } => {
            let entry = find(ldap, args, identity).await?;
            lync_user(&entry, identity)?;
            let id = entry.object_guid().ok_or_else(|| not_found(identity))?;
            locked
                .state_mut()
                .users
                .entry(id)
                .or_default()
                .policies
                .insert(kind.as_str().to_owned(), policy_name.clone());
        }
    }
    Ok(Value::Null)
}
