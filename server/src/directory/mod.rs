//! The portal's own copy of the directory, kept current from the source's change feed, with
//! what only Lync knows (certificates, policies) read through the shell and merged in.
//!
//! Searching 100,000 users, or computing a report over them, cannot wait on LDAP round trips, so
//! the portal reads the directory once, then applies incremental reads (`uSNChanged`) as the
//! backend signals change. Each state is an immutable [`Snapshot`] published on a watch channel:
//! readers take an `Arc` and never block the writer; subscribers learn of every new one.

pub mod search;

use crate::backend::{
    BackendError, DirectoryRead, DirectorySource, LyncOnly, LyncShell, Watermark,
};
use deprov_wire::directory::{AdState, DirectoryUser, Fact, LyncState, SipAddress, UserId};
use search::{SearchIndex, SearchQuery};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use tokio::sync::watch;

/// Poll even without a change signal, in case a push was lost.
const SAFETY_POLL: Duration = Duration::from_secs(30);
/// How often certificates are read through the shell for the users the report needs them for.
const CERTIFICATE_SWEEP: Duration = Duration::from_secs(600);
/// Certificates read longer ago than this are read again by the sweep.
const CERTIFICATES_STALE_AFTER: Duration = Duration::from_secs(3600);
/// Back-off after a failed read, doubling up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The directory as of one read.
///
/// Changes are patched in place ([`update`](Self::update)): the live copy is an `Arc` that
/// readers hold only briefly, so `Arc::make_mut` rarely has to copy it, and a changed user costs
/// its own slot, not a rebuild of 100,000.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Sorted by [`sort_key`]: search ties break in this order.
    users: Vec<Arc<DirectoryUser>>,
    /// Shared between copies: a patch never moves anyone (a move rebuilds).
    by_id: Arc<HashMap<UserId, usize>>,
    index: Arc<SearchIndex>,
    /// Per user (same order), the facts whole-directory passes read: contiguous, so the report
    /// over 100,000 users touches only the users that break a rule.
    flags: Vec<UserFlags>,
    /// How many Lync users each registrar pool homes; `pools` is its keys, in order.
    pool_users: BTreeMap<String, usize>,
    pools: Vec<String>,
    /// The source's high-water mark this snapshot includes.
    pub high_water: Watermark,
    /// When (by the backend's clock) this snapshot was read.
    pub synced: OffsetDateTime,
}

/// Where a user sorts: by display name (case-insensitively), then sAMAccountName, then the id,
/// so the order never depends on the order users were read in.
fn sort_key(user: &DirectoryUser) -> (String, &str, UserId) {
    (
        user.ad.display_name.to_lowercase(),
        &user.ad.sam_account_name,
        user.id,
    )
}

fn pool_of(user: &DirectoryUser) -> Option<&str> {
    user.lync.as_ref()?.registrar_pool.as_deref()
}

impl Snapshot {
    /// A snapshot of `users` (tests and benchmarks build their own).
    pub fn build(
        mut users: Vec<Arc<DirectoryUser>>,
        high_water: Watermark,
        synced: OffsetDateTime,
    ) -> Self {
        // Cached keys: one lower-casing per user, not two per comparison.
        users.sort_by_cached_key(|user| {
            let (name, sam, id) = sort_key(user);
            (name, sam.to_owned(), id)
        });
        let mut pool_users = BTreeMap::new();
        for pool in users.iter().filter_map(|user| pool_of(user)) {
            *pool_users.entry(pool.to_owned()).or_insert(0) += 1;
        }
        Self {
            pools: pool_users.keys().cloned().collect(),
            pool_users,
            by_id: Arc::new(users.iter().enumerate().map(|(i, u)| (u.id, i)).collect()),
            index: Arc::new(SearchIndex::build(&users)),
            flags: users.iter().map(|u| UserFlags::of(u)).collect(),
            users,
            high_water,
            synced,
        }
    }

    /// Brings this snapshot up to date with a read: a full read replaces everything (whoever is
    /// missing is gone); changes are patched in place.
    pub fn update(&mut self, read: DirectoryRead, synced: OffsetDateTime) {
        match read {
            DirectoryRead::Full { users, high_water } => {
                *self = Self::build(
                    users.into_iter().map(Arc::new).collect(),
                    high_water,
                    synced,
                );
            }
            DirectoryRead::Changes {
                users,
                deleted,
                high_water,
            } => self.patch(users, &deleted, high_water, synced),
        }
    }

    fn patch(
        &mut self,
        changed: Vec<DirectoryUser>,
        deleted: &[UserId],
        high_water: Watermark,
        synced: OffsetDateTime,
    ) {
        let moves = deleted.iter().any(|id| self.by_id.contains_key(id))
            || changed.iter().any(|user| {
                self.by_id
                    .get(&user.id)
                    .is_none_or(|&i| sort_key(&self.users[i]) != sort_key(user))
            });
        if moves {
            // Someone arrived, left or now sorts elsewhere (rare): positions shift, so the order
            // and the index are built again.
            let mut changed: HashMap<UserId, DirectoryUser> =
                changed.into_iter().map(|user| (user.id, user)).collect();
            let mut users: Vec<Arc<DirectoryUser>> = self
                .users
                .iter()
                .filter(|user| !deleted.contains(&user.id))
                .map(|user| {
                    changed
                        .remove(&user.id)
                        .map_or_else(|| Arc::clone(user), Arc::new)
                })
                .collect();
            users.extend(
                changed
                    .into_values()
                    .filter(|user| !deleted.contains(&user.id))
                    .map(Arc::new),
            );
            *self = Self::build(users, high_water, synced);
            return;
        }
        for user in changed {
            let i = self.by_id[&user.id];
            self.replace(i, user);
        }
        self.high_water = high_water;
        self.synced = synced;
    }

    /// Puts `user` in slot `i`, which it keeps (same sort key): its flags, its search record if
    /// its names changed, and the pool counts follow.
    fn replace(&mut self, i: usize, user: DirectoryUser) {
        let old = Arc::clone(&self.users[i]);
        if searchable_names(&old) != searchable_names(&user) {
            Arc::make_mut(&mut self.index).replace(i, &user);
        }
        if pool_of(&old) != pool_of(&user) {
            let mut pools_changed = false;
            if let Some(pool) = pool_of(&old)
                && let Some(count) = self.pool_users.get_mut(pool)
            {
                *count -= 1;
                if *count == 0 {
                    self.pool_users.remove(pool);
                    pools_changed = true;
                }
            }
            if let Some(pool) = pool_of(&user) {
                let count = self.pool_users.entry(pool.to_owned()).or_insert(0);
                pools_changed |= *count == 0;
                *count += 1;
            }
            if pools_changed {
                self.pools = self.pool_users.keys().cloned().collect();
            }
        }
        self.flags[i] = UserFlags::of(&user);
        self.users[i] = Arc::new(user);
    }

    /// Merges in what only Lync knows of user `id`; false if the user is not in this copy.
    fn merge_lync_only(&mut self, id: UserId, facts: &LyncOnly) -> bool {
        let Some(&i) = self.by_id.get(&id) else {
            return false;
        };
        let mut user = (*self.users[i]).clone();
        merge(&mut user, facts);
        self.replace(i, user);
        true
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    pub fn users(&self) -> &[Arc<DirectoryUser>] {
        &self.users
    }

    /// The compact facts of every user, in [`users`](Self::users) order.
    pub fn flags(&self) -> &[UserFlags] {
        &self.flags
    }

    pub fn user(&self, id: UserId) -> Option<&Arc<DirectoryUser>> {
        self.by_id.get(&id).map(|&i| &self.users[i])
    }

    pub fn pools(&self) -> &[String] {
        &self.pools
    }

    /// One page of matches and the number of matches in all.
    pub fn search(&self, query: &SearchQuery) -> (Vec<&Arc<DirectoryUser>>, usize) {
        // States come from the contiguous flags; only a pool filter reads the user itself.
        let keep = |u: usize| {
            let flags = &self.flags[u];
            query
                .ad
                .is_none_or(|ad| (ad == AdState::Disabled) == flags.ad_disabled)
                && query.lync.is_none_or(|lync| lync == flags.lync_state())
                && query.pool.as_deref().is_none_or(|pool| {
                    let lync = self.users[u].lync.as_ref();
                    lync.and_then(|l| l.registrar_pool.as_deref())
                        .is_some_and(|p| p.eq_ignore_ascii_case(pool))
                })
        };
        let (page, total) = self.index.search(query, keep);
        (page.into_iter().map(|i| &self.users[i]).collect(), total)
    }

    /// Whether any user in this copy has `sip` as its SIP address.
    pub fn sip_in_use(&self, sip: &SipAddress) -> bool {
        let query = SearchQuery {
            text: sip.without_scheme(),
            limit: 10,
            ..SearchQuery::default()
        };
        self.search(&query)
            .0
            .iter()
            .any(|u| u.lync.as_ref().is_some_and(|l| l.sip_address == *sip))
    }
}

/// What a whole-directory pass needs to know of a user without reading the user itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserFlags {
    pub ad_disabled: bool,
    /// Get-CsAdUser's three-valued Enabled: `None` is Null.
    pub lync_enabled: Option<bool>,
    /// When Enabled last changed, for users temporarily disabled.
    pub disabled_in_lync_since: Option<OffsetDateTime>,
    /// The user has client certificates, expired or not (known ones only).
    pub has_certificates: bool,
    /// A Lync user whose certificates nobody knows (no Lync shell).
    pub certificates_unknown: bool,
    pub sip_disjoint: bool,
}

impl UserFlags {
    pub fn lync_state(&self) -> LyncState {
        match self.lync_enabled {
            Some(true) => LyncState::Enabled,
            Some(false) => LyncState::TemporarilyDisabled,
            None => LyncState::NeverEnabled,
        }
    }

    pub fn of(user: &DirectoryUser) -> Self {
        let lync = user.lync.as_ref();
        Self {
            ad_disabled: user.ad.account_disabled,
            lync_enabled: lync.map(|l| l.enabled),
            disabled_in_lync_since: lync.filter(|l| !l.enabled).map(|l| l.enabled_changed),
            has_certificates: lync.is_some_and(|l| l.certificates.is_known_and(|c| !c.is_empty())),
            certificates_unknown: lync.is_some_and(|l| l.certificates.is_unknown()),
            sip_disjoint: user.sip_disjoint_from_upn(),
        }
    }
}

fn searchable_names(user: &DirectoryUser) -> (&str, &str, &str, Option<&SipAddress>) {
    (
        &user.ad.display_name,
        &user.ad.sam_account_name,
        &user.ad.user_principal_name,
        user.lync.as_ref().map(|l| &l.sip_address),
    )
}

/// Fills in, on a user read from AD, what only Lync knows and the shell told.
fn merge(user: &mut DirectoryUser, facts: &LyncOnly) {
    if let Some(lync) = user.lync.as_mut() {
        if lync.certificates.is_unknown() {
            lync.certificates = Fact::Known(facts.certificates.clone());
        }
        if let (true, Some(policies)) = (lync.policies.is_unknown(), &facts.policies) {
            lync.policies = Fact::Known(policies.clone());
        }
    }
}

/// What the shell said of each user, and when.
type LyncOnlyCache = Arc<Mutex<HashMap<UserId, (LyncOnly, Instant)>>>;

/// The live copy: the latest snapshot, and whether the last read from the source worked.
#[derive(Clone)]
pub struct Directory {
    snapshots: watch::Receiver<Arc<Snapshot>>,
    publish: Arc<watch::Sender<Arc<Snapshot>>>,
    failure: Arc<Mutex<Option<ReadFailure>>>,
    source: Arc<dyn DirectorySource>,
    shell: Option<Arc<dyn LyncShell>>,
    lync_only: LyncOnlyCache,
}

/// Reads of the directory are failing: the portal serves its last good copy meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadFailure {
    /// The latest error, in words.
    pub error: String,
    /// When (by the source's clock) reads started failing.
    pub since: OffsetDateTime,
}

impl Directory {
    /// Reads the whole directory, then keeps it current in a background task that ends when the
    /// last `Directory` clone is dropped. With a shell, certificates of the users the report
    /// needs them for are read through it now and then.
    pub async fn start(
        source: Arc<dyn DirectorySource>,
        shell: Option<Arc<dyn LyncShell>>,
    ) -> Result<Self, BackendError> {
        let read = source.read_directory(None).await?;
        let mut snapshot = Snapshot::build(Vec::new(), read.high_water().clone(), source.now());
        snapshot.update(read, source.now());
        let snapshot = Arc::new(snapshot);
        let (sender, snapshots) = watch::channel(snapshot);
        let directory = Self {
            snapshots,
            publish: Arc::new(sender),
            failure: Arc::default(),
            source,
            shell,
            lync_only: Arc::default(),
        };
        tokio::spawn(sync(directory.downgrade()));
        if directory.shell.is_some() {
            tokio::spawn(sweep_certificates(directory.downgrade()));
        }
        Ok(directory)
    }

    /// A handle the background tasks hold: it does not keep the directory alive.
    fn downgrade(&self) -> WeakDirectory {
        WeakDirectory {
            publish: Arc::downgrade(&self.publish),
            failure: Arc::clone(&self.failure),
            source: Arc::clone(&self.source),
            lync_only: Arc::clone(&self.lync_only),
            shell: self.shell.clone(),
        }
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshots.borrow())
    }

    /// Every new snapshot, for live views (the mismatch report).
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshots.clone()
    }

    /// Why reads are failing and since when, while the copy may be stale; `None` when the last
    /// read worked.
    pub fn failure(&self) -> Option<ReadFailure> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// One user read fresh from the source (not this copy), with what only Lync knows read
    /// through the shell when there is one. A shell that cannot answer leaves those facts
    /// unknown (logged): the AD side is still worth showing.
    pub async fn fresh_user(&self, id: UserId) -> Result<DirectoryUser, BackendError> {
        let mut user = self.source.read_user(id).await?;
        self.downgrade().lync_only(&mut user).await;
        Ok(user)
    }
}

/// What the background tasks hold of a [`Directory`].
struct WeakDirectory {
    publish: std::sync::Weak<watch::Sender<Arc<Snapshot>>>,
    failure: Arc<Mutex<Option<ReadFailure>>>,
    source: Arc<dyn DirectorySource>,
    lync_only: LyncOnlyCache,
    shell: Option<Arc<dyn LyncShell>>,
}

impl WeakDirectory {
    /// Reads what only Lync knows of `user` through the shell (if any, and if unknown), merges it
    /// in, remembers it, and publishes it in the live copy.
    async fn lync_only(&self, user: &mut DirectoryUser) {
        let (Some(shell), Some(lync)) = (&self.shell, &user.lync) else {
            return;
        };
        if !(lync.certificates.is_unknown() || lync.policies.is_unknown()) {
            return;
        }
        match shell.read_lync_only(&user.ad.user_principal_name).await {
            Ok(facts) => {
                merge(user, &facts);
                self.remember(user.id, facts);
            }
            Err(error) => {
                tracing::warn!(user = %user.ad.sam_account_name, %error, "could not read certificates through the Lync shell")
            }
        }
    }

    fn remember(&self, id: UserId, facts: LyncOnly) {
        let Some(publish) = self.publish.upgrade() else {
            return;
        };
        publish.send_if_modified(|snapshot| {
            snapshot.user(id).is_some() && Arc::make_mut(snapshot).merge_lync_only(id, &facts)
        });
        self.lync_only
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, (facts, Instant::now()));
    }

    fn set_failure(&self, failure: Option<ReadFailure>) -> Option<ReadFailure> {
        std::mem::replace(
            &mut *self.failure.lock().unwrap_or_else(|p| p.into_inner()),
            failure,
        )
    }
}

async fn sync(directory: WeakDirectory) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        let Some(since) = directory
            .publish
            .upgrade()
            .map(|p| p.borrow().high_water.clone())
        else {
            return;
        };
        tokio::select! {
            () = directory.source.changed(&since) => {}
            () = tokio::time::sleep(SAFETY_POLL) => {}
        }
        match directory.source.read_directory(Some(&since)).await {
            Ok(mut read) => {
                if let Some(ended) = directory.set_failure(None) {
                    tracing::info!(failing_since = %ended.since, "directory reads work again");
                }
                backoff = FIRST_BACKOFF;
                {
                    let known = directory
                        .lync_only
                        .lock()
                        .unwrap_or_else(|p| p.into_inner());
                    for user in read.users_mut() {
                        if let Some((facts, _)) = known.get(&user.id) {
                            merge(user, facts);
                        }
                    }
                }
                let synced = directory.source.now();
                let Some(publish) = directory.publish.upgrade() else {
                    return;
                };
                publish.send_modify(|snapshot| Arc::make_mut(snapshot).update(read, synced));
            }
            Err(error) => {
                tracing::warn!(%error, "directory read failed; the portal keeps its last good copy");
                let since = directory
                    .failure
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_ref()
                    .map_or_else(|| directory.source.now(), |f| f.since);
                directory.set_failure(Some(ReadFailure {
                    error: error.to_string(),
                    since,
                }));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Reads, through the shell, the certificates of every AD-disabled Lync user whose certificates
/// are unknown or old: the report's certificate rule needs them, and AD does not hold them.
async fn sweep_certificates(directory: WeakDirectory) {
    loop {
        let Some(snapshot) = directory.publish.upgrade().map(|p| Arc::clone(&p.borrow())) else {
            return;
        };
        let due: Vec<Arc<DirectoryUser>> = snapshot
            .users()
            .iter()
            .zip(snapshot.flags())
            .filter(|(_, flags)| flags.ad_disabled && flags.lync_enabled.is_some())
            .filter(|(user, flags)| {
                // Unknown (AD does not hold them), or read through the shell long ago.
                let read = directory
                    .lync_only
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&user.id)
                    .map(|(_, at)| at.elapsed());
                match read {
                    None => flags.certificates_unknown,
                    Some(age) => age >= CERTIFICATES_STALE_AFTER,
                }
            })
            .map(|(user, _)| Arc::clone(user))
            .collect();
        drop(snapshot);
        for user in due {
            let Some(shell) = &directory.shell else {
                return;
            };
            match shell.read_lync_only(&user.ad.user_principal_name).await {
                Ok(facts) => directory.remember(user.id, facts),
                // The shell is down: try again at the next sweep, not once per user now.
                Err(BackendError::Unavailable(why)) => {
                    tracing::warn!(%why, "certificate sweep stopped: the Lync shell is unavailable");
                    break;
                }
                Err(error) => {
                    tracing::warn!(user = %user.ad.sam_account_name, %error, "could not read certificates")
                }
            }
        }
        tokio::time::sleep(CERTIFICATE_SWEEP).await;
    }
}

#[cfg(test)]
mod tests;
