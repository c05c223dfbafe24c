//! Active Directory over LDAP as a [`DirectorySource`]: the whole directory in one paged search,
//! then only what changed (`uSNChanged` above the mark, on the same domain controller), and who
//! was deleted: from tombstones when the service account may read them, and from a census of
//! objectGUIDs (every `--ldap-deletions-secs`) when it may not, which is AD's default.
//!
//! - [`settings`]: the `--ldap-*` flags, TLS, and opening a bound connection.
//! - [`entry`]: from an AD entry to a user, pure.
//! - [`check`]: `deprov check-connection`, the first command an operator runs.
//! - [`ldif`]: a lab directory as LDIF (the tests' Samba DC, and anyone's test forest).

pub mod check;
pub mod entry;
pub mod ldif;
pub mod settings;

use super::{BackendError, DirectoryRead, DirectorySource, Watermark};
use deprov_wire::directory::{DirectoryUser, UserId};
use entry::{Entry, Mapping, Oddities, USER_ATTRIBUTES, USERS_FILTER};
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::controls::RawControl;
use ldap3::{Ldap, Scope, SearchEntry};
use settings::{ConnectError, LdapSettings, normalise_dn};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use time::OffsetDateTime;

/// The Show Deleted control: tombstones of deleted users.
const SHOW_DELETED: &str = "1.2.840.113556.1.4.417";

/// What a read learns about the DC it is talking to.
#[derive(Debug, Clone)]
struct RootDse {
    /// `dsServiceName`: which DC the USNs belong to.
    server: Arc<str>,
    host: String,
    highest_usn: u64,
    default_naming_context: String,
    schema_naming_context: String,
}

/// What the reader remembers between reads.
#[derive(Default)]
struct Memory {
    /// Normalised DN → user, to resolve `manager`.
    users_by_dn: HashMap<String, UserId>,
    /// Every user this reader has reported and not yet reported gone.
    known: HashSet<UserId>,
    /// The DC and the schema's id for msRTCSIP-UserEnabled, read once per DC.
    lync_enabled_attid: Option<(Arc<str>, Option<u32>)>,
    /// When every objectGUID was last listed to find deletions.
    last_census: Option<Instant>,
}

pub struct LdapDirectory {
    settings: LdapSettings,
    /// The service account's connection, opened on first use and again after a failure.
    connection: tokio::sync::Mutex<Option<Ldap>>,
    memory: Mutex<Memory>,
    oddities: Oddities,
}

impl LdapDirectory {
    pub fn new(settings: LdapSettings) -> Self {
        Self {
            settings,
            connection: tokio::sync::Mutex::new(None),
            memory: Mutex::default(),
            oddities: Oddities::default(),
        }
    }

    pub fn settings(&self) -> &LdapSettings {
        &self.settings
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The service account's connection (opening and binding it if needed).
    async fn ldap(&self) -> Result<Ldap, BackendError> {
        let mut connection = self.connection.lock().await;
        if let Some(ldap) = connection.as_mut()
            && !ldap.is_closed()
        {
            return Ok(ldap.clone());
        }
        let ldap = settings::connect(
            &self.settings,
            &self.settings.bind_dn,
            self.settings.bind_password.expose(),
        )
        .await
        .map_err(|error| match error {
            ConnectError::Unreachable(why) => BackendError::Unavailable(why),
            ConnectError::Refused(refusal) => BackendError::Unavailable(format!(
                "AD refused the service account {}: {}",
                self.settings.bind_dn,
                refusal.sentence()
            )),
        })?;
        *connection = Some(ldap.clone());
        Ok(ldap)
    }

    /// Forgets the connection after a failure: the next read opens a new one.
    async fn drop_connection(&self) {
        self.connection.lock().await.take();
    }

    /// Runs `read` on the service connection; a failure drops the connection, so the next
    /// attempt reconnects (the directory's sync loop backs off between attempts).
    async fn with_connection<T, F>(&self, read: impl FnOnce(Ldap) -> F) -> Result<T, BackendError>
    where
        F: Future<Output = Result<T, BackendError>>,
    {
        let ldap = self.ldap().await?;
        let outcome = tokio::time::timeout(self.settings.timeout * 4, read(ldap))
            .await
            .unwrap_or(Err(BackendError::Timeout(self.settings.timeout * 4)));
        if outcome.is_err() {
            self.drop_connection().await;
        }
        outcome
    }

    /// Reads everything (or what changed since `since`) over one connection.
    async fn read(
        &self,
        ldap: Ldap,
        since: Option<&Watermark>,
    ) -> Result<DirectoryRead, BackendError> {
        let root = root_dse(ldap.clone(), &self.settings).await?;
        let attid = self.lync_enabled_attid(ldap.clone(), &root).await?;
        // USNs are the DC's own: a mark from another DC (a failover) means reading everything.
        let continue_from = since
            .filter(|mark| mark.server == root.server)
            .map(|mark| mark.usn);
        let high_water = Watermark::new(Arc::clone(&root.server), root.highest_usn);
        if continue_from == Some(root.highest_usn) {
            // Nothing at all changed on this DC since the last read.
            return Ok(DirectoryRead::Changes {
                users: Vec::new(),
                deleted: Vec::new(),
                high_water,
            });
        }
        let changed_filter = |filter: &str| match continue_from {
            Some(usn) => format!("(&{filter}(uSNChanged>={}))", usn + 1),
            None => filter.to_owned(),
        };
        let entries = self
            .paged(
                ldap.clone(),
                &self.settings.base_dn,
                &changed_filter(USERS_FILTER),
                &USER_ATTRIBUTES,
            )
            .await?;
        // When AD disabled an account, or Lync a user, is in the replication metadata: read it
        // for those users only (it is about 1.5 KB a user).
        let metadata = self
            .paged(
                ldap.clone(),
                &self.settings.base_dn,
                &changed_filter(&format!(
                    "(&{USERS_FILTER}(|(userAccountControl:1.2.840.113556.1.4.803:=2)(msRTCSIP-UserEnabled=FALSE)))"
                )),
                &["objectGUID", "replPropertyMetaData"],
            )
            .await?;
        let change_times: HashMap<UserId, _> = metadata
            .iter()
            .filter_map(|entry| {
                Some((
                    entry.object_guid()?,
                    entry::change_times(entry.binary("replPropertyMetaData")?),
                ))
            })
            .collect();
        let Some(usn) = continue_from else {
            let users = self.map(&entries, attid, &change_times, true);
            let mut memory = self.memory();
            memory.known = users.iter().map(|u| u.id).collect();
            memory.last_census = Some(Instant::now());
            return Ok(DirectoryRead::Full { users, high_water });
        };
        let users = self.map(&entries, attid, &change_times, false);
        let deleted = self.deleted(ldap, &root, usn).await?;
        let mut memory = self.memory();
        memory.known.extend(users.iter().map(|u| u.id));
        for id in &deleted {
            memory.known.remove(id);
        }
        Ok(DirectoryRead::Changes {
            users,
            deleted,
            high_water,
        })
    }

    /// Users deleted since `usn`: tombstones (when the service account may read deleted objects),
    /// and users missing from a census of every objectGUID (when one is due).
    async fn deleted(
        &self,
        ldap: Ldap,
        root: &RootDse,
        usn: u64,
    ) -> Result<Vec<UserId>, BackendError> {
        let show_deleted = RawControl {
            ctype: SHOW_DELETED.to_owned(),
            crit: true,
            val: None,
        };
        let mut with_tombstones = ldap.clone();
        with_tombstones.with_controls(vec![show_deleted]);
        let mut deleted: HashSet<UserId> = self
            .paged(
                with_tombstones,
                &root.default_naming_context,
                &format!(
                    "(&(isDeleted=TRUE)(objectClass=user)(uSNChanged>={}))",
                    usn + 1
                ),
                &["objectGUID"],
            )
            .await?
            .iter()
            .filter_map(Entry::object_guid)
            .collect();
        let census_due = self
            .memory()
            .last_census
            .is_none_or(|at| at.elapsed() >= self.settings.census_every);
        if census_due {
            let present: HashSet<UserId> = self
                .paged(ldap, &self.settings.base_dn, USERS_FILTER, &["objectGUID"])
                .await?
                .iter()
                .filter_map(Entry::object_guid)
                .collect();
            let mut memory = self.memory();
            deleted.extend(memory.known.difference(&present));
            memory.last_census = Some(Instant::now());
        }
        Ok(deleted.into_iter().collect())
    }

    async fn paged(
        &self,
        ldap: Ldap,
        base: &str,
        filter: &str,
        attributes: &[&str],
    ) -> Result<Vec<Entry>, BackendError> {
        paged(ldap, &self.settings, base, filter, attributes).await
    }

    /// Maps entries to users, resolving managers through every DN this reader knows.
    fn map(
        &self,
        entries: &[Entry],
        lync_enabled_attid: Option<u32>,
        change_times: &HashMap<UserId, HashMap<u32, OffsetDateTime>>,
        full: bool,
    ) -> Vec<DirectoryUser> {
        let mut memory = self.memory();
        if full {
            memory.users_by_dn.clear();
        }
        for entry in entries {
            if let Some(id) = entry.object_guid() {
                memory.users_by_dn.insert(normalise_dn(&entry.dn), id);
            }
        }
        let by_dn = |dn: &str| memory.users_by_dn.get(dn).copied();
        let mapping = Mapping {
            pools: &self.settings.pools,
            user_by_dn: &by_dn,
            lync_enabled_attid,
            change_times,
            oddities: &self.oddities,
        };
        entries
            .iter()
            .filter_map(|entry| match entry::user(entry, &mapping) {
                Ok(user) => Some(user),
                Err(why) => {
                    self.oddities.note(&why);
                    None
                }
            })
            .collect()
    }

    /// msRTCSIP-UserEnabled's attribute id (`msDS-IntId`), read once per DC.
    async fn lync_enabled_attid(
        &self,
        ldap: Ldap,
        root: &RootDse,
    ) -> Result<Option<u32>, BackendError> {
        if let Some((server, attid)) = &self.memory().lync_enabled_attid
            && *server == root.server
        {
            return Ok(*attid);
        }
        let found = self
            .paged(
                ldap,
                &root.schema_naming_context,
                "(lDAPDisplayName=msRTCSIP-UserEnabled)",
                &["msDS-IntId"],
            )
            .await?;
        let attid = found
            .first()
            .and_then(|entry| entry.text("msDS-IntId")?.parse::<i32>().ok())
            .map(|id| id as u32);
        if attid.is_none() {
            self.oddities.note(
                "the schema gives msRTCSIP-UserEnabled no msDS-IntId: when Lync was disabled for a user \
                 is taken from whenChanged (the last change of any attribute)",
            );
        }
        self.memory().lync_enabled_attid = Some((Arc::clone(&root.server), attid));
        Ok(attid)
    }
}

/// Reads the rootDSE: which DC this is, its highest USN, and its naming contexts.
async fn root_dse(mut ldap: Ldap, settings: &LdapSettings) -> Result<RootDse, BackendError> {
    let (entries, _) = ldap
        .with_timeout(settings.timeout)
        .search(
            "",
            Scope::Base,
            "(objectClass=*)",
            vec![
                "dsServiceName",
                "dnsHostName",
                "highestCommittedUSN",
                "defaultNamingContext",
                "schemaNamingContext",
            ],
        )
        .await
        .and_then(|result| result.success())
        .map_err(|e| {
            BackendError::Unavailable(format!(
                "the DC at {} did not answer a rootDSE read: {e}",
                settings.url
            ))
        })?;
    let entry = Entry::from(SearchEntry::construct(
        entries
            .into_iter()
            .next()
            .ok_or_else(|| BackendError::Unavailable("the DC returned no rootDSE".to_owned()))?,
    ));
    let text = |name: &str| entry.text(name).unwrap_or_default().to_owned();
    Ok(RootDse {
        server: text("dsServiceName").into(),
        host: text("dnsHostName"),
        highest_usn: text("highestCommittedUSN").parse().map_err(|_| {
            BackendError::Unavailable(
                "the rootDSE has no highestCommittedUSN: is this an Active Directory DC?"
                    .to_owned(),
            )
        })?,
        default_naming_context: text("defaultNamingContext"),
        schema_naming_context: text("schemaNamingContext"),
    })
}

/// One paged subtree search (AD answers at most 1,000 entries without paging). A search cut
/// off part-way is a [`BackendError::Partial`]: what came is not used.
/// (Controls set on `ldap` beforehand, such as Show Deleted, go with every page.)
async fn paged(
    mut ldap: Ldap,
    settings: &LdapSettings,
    base: &str,
    filter: &str,
    attributes: &[&str],
) -> Result<Vec<Entry>, BackendError> {
    let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
        Box::new(EntriesOnly::new()),
        Box::new(PagedResults::new(settings.page_size)),
    ];
    let mut search = ldap
        .with_timeout(settings.timeout)
        .streaming_search_with(adapters, base, Scope::Subtree, filter, attributes.to_vec())
        .await
        .map_err(|e| {
            BackendError::Unavailable(format!(
                "the DC at {} refused a search of {base}: {e}",
                settings.url
            ))
        })?;
    let mut entries = Vec::new();
    loop {
        match search.next().await {
            Ok(Some(entry)) => entries.push(Entry::from(SearchEntry::construct(entry))),
            Ok(None) => break,
            Err(error) => {
                return Err(BackendError::Partial {
                    read: entries.len(),
                    message: format!("searching {base}: {error}"),
                });
            }
        }
    }
    let outcome = search.finish().await;
    match outcome.rc {
        0 => Ok(entries),
        rc => Err(BackendError::Partial {
            read: entries.len(),
            message: format!("searching {base} ended with result {rc}: {}", outcome.text),
        }),
    }
}

#[async_trait::async_trait]
impl DirectorySource for LdapDirectory {
    fn name(&self) -> &'static str {
        "ldap"
    }

    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    async fn health(&self) -> Result<String, BackendError> {
        let settings = &self.settings;
        let root = self
            .with_connection(|ldap| async move { root_dse(ldap, settings).await })
            .await?;
        Ok(format!(
            "AD over LDAP: {} ({}), users under {}",
            root.host, self.settings.url, self.settings.base_dn
        ))
    }

    async fn read_directory(
        &self,
        since: Option<&Watermark>,
    ) -> Result<DirectoryRead, BackendError> {
        self.with_connection(|ldap| self.read(ldap, since)).await
    }

    async fn read_user(&self, id: UserId) -> Result<DirectoryUser, BackendError> {
        let settings = &self.settings;
        let (entries, metadata, attid) = self
            .with_connection(|ldap| async move {
                // The schema's id for msRTCSIP-UserEnabled, as the last read found it (one
                // user's read does not need the rootDSE otherwise).
                let known = self.memory().lync_enabled_attid.clone();
                let attid = match known {
                    Some((_, attid)) => attid,
                    None => {
                        let root = root_dse(ldap.clone(), settings).await?;
                        self.lync_enabled_attid(ldap.clone(), &root).await?
                    }
                };
                let filter = format!("(&{USERS_FILTER}{})", entry::guid_filter(id));
                let mut attributes = USER_ATTRIBUTES.to_vec();
                attributes.push("replPropertyMetaData");
                let entries =
                    paged(ldap, settings, &settings.base_dn, &filter, &attributes).await?;
                let metadata = entries
                    .first()
                    .and_then(|e| e.binary("replPropertyMetaData"))
                    .map(entry::change_times);
                Ok((entries, metadata, attid))
            })
            .await?;
        let change_times = metadata
            .map(|m| HashMap::from([(id, m)]))
            .unwrap_or_default();
        self.map(&entries, attid, &change_times, false)
            .into_iter()
            .next()
            .ok_or_else(|| BackendError::UserNotFound(id.to_string()))
    }

    async fn changed(&self, _since: &Watermark) {
        // LDAP has no push: a delta read after each poll interval (cheap when nothing changed).
        tokio::time::sleep(self.settings.poll).await;
    }
}
