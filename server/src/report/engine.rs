//! Keeps the mismatch report current: recomputes it once per directory change (or when the clock
//! reaches the next expiry or grace deadline), works out what changed, serialises that once, and
//! hands the same bytes to every open stream. Hundreds of open pages cost one computation.

use super::exceptions::InForce;
use super::{Computed, ReportConfig, compute};
use crate::backend::DirectorySource;
use crate::directory::Directory;
use crate::notify::{self, Notice};
use crate::store::{Store, StoreError};
use crate::workflow::OpenRequests;
use deprov_wire::report::{Finding, FindingKey, HistoryPoint, MismatchReport, ReportChange, Risk};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// Points of history kept in memory and sent with the report.
const HISTORY_POINTS: u32 = 720;
/// Changes a slow stream may fall behind by before it is sent the whole report again.
const CHANGE_BUFFER: usize = 64;
/// Recompute at least this often, so a clock that jumped is noticed even without a signal.
const MAX_IDLE: Duration = Duration::from_secs(60);

/// The current report (every finding), and the JSON of its unfiltered first page, serialised
/// once for every stream that opens without a filter.
pub struct Published {
    pub report: Arc<MismatchReport>,
    pub opening: Arc<str>,
}

/// One change, and its JSON, serialised once.
pub struct PublishedChange {
    pub change: ReportChange,
    pub json: Arc<str>,
}

#[derive(Clone)]
pub struct ReportHub {
    current: watch::Receiver<Arc<Published>>,
    changes: broadcast::Sender<Arc<PublishedChange>>,
    config: Arc<ReportConfig>,
}

impl ReportHub {
    /// Computes the first report and keeps it current until the last clone is dropped.
    pub async fn start(
        directory: Directory,
        source: Arc<dyn DirectorySource>,
        config: ReportConfig,
        store: Store,
        open_requests: watch::Receiver<OpenRequests>,
        exceptions: watch::Receiver<InForce>,
    ) -> Result<Self, StoreError> {
        let history: VecDeque<HistoryPoint> = store.recent_history(HISTORY_POINTS).await?.into();
        let mut engine = Engine {
            directory,
            source,
            config: Arc::new(config),
            store,
            open_requests,
            exceptions,
            history,
            version: 0,
            last: Computed::default(),
            unannounced: Vec::new(),
        };
        let first = engine
            .recompute()
            .await
            .map(|(published, _)| published)
            .expect("the first computation always publishes");
        let (current_tx, current) = watch::channel(first);
        let (changes, _) = broadcast::channel(CHANGE_BUFFER);
        let config = Arc::clone(&engine.config);
        tokio::spawn(engine.run(current_tx, changes.clone()));
        Ok(Self {
            current,
            changes,
            config,
        })
    }

    pub fn current(&self) -> Arc<Published> {
        Arc::clone(&self.current.borrow())
    }

    /// Changes from now on. Subscribe before reading [`current`](Self::current) so none is missed.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<PublishedChange>> {
        self.changes.subscribe()
    }

    pub fn config(&self) -> &ReportConfig {
        &self.config
    }
}

struct Engine {
    directory: Directory,
    source: Arc<dyn DirectorySource>,
    config: Arc<ReportConfig>,
    store: Store,
    /// Users with an open request: it explains a renamed SIP address.
    open_requests: watch::Receiver<OpenRequests>,
    /// Accepted exceptions: they set findings apart until they end.
    exceptions: watch::Receiver<InForce>,
    history: VecDeque<HistoryPoint>,
    version: u64,
    last: Computed,
    /// New high-risk findings whose events could not be written: tried again next time.
    unannounced: Vec<Finding>,
}

impl Engine {
    async fn run(
        mut self,
        current: watch::Sender<Arc<Published>>,
        changes: broadcast::Sender<Arc<PublishedChange>>,
    ) {
        let mut snapshots = self.directory.subscribe();
        loop {
            let wait = self
                .last
                .next_change
                .map(|at| {
                    let until = at - self.source.now();
                    Duration::try_from(until).unwrap_or(Duration::ZERO) + Duration::from_millis(5)
                })
                .unwrap_or(MAX_IDLE)
                .min(MAX_IDLE);
            tokio::select! {
                () = current.closed() => return,
                changed = snapshots.changed() => if changed.is_err() { return },
                changed = self.open_requests.changed() => if changed.is_err() { return },
                changed = self.exceptions.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(wait) => {}
            }
            if let Some((published, change)) = self.recompute().await {
                current.send_replace(published);
                if let Some(change) = change {
                    // No receiver is fine: nobody has the page open.
                    let _ = changes.send(change);
                }
            }
        }
    }

    /// Computes the report; returns it (and the change from the previous one) if anything moved.
    async fn recompute(&mut self) -> Option<(Arc<Published>, Option<Arc<PublishedChange>>)> {
        let snapshot = self.directory.snapshot();
        let now = self.source.now();
        let open = Arc::clone(&self.open_requests.borrow_and_update());
        let excepted = Arc::clone(&self.exceptions.borrow_and_update());
        let computed = compute(
            &snapshot,
            now,
            &self.config,
            &|user| open.get(&user).copied(),
            &|user| excepted.get(&user).cloned(),
        );
        let (added, removed) = diff(&self.last.findings, &computed.findings);
        self.announce_high_risk(&added, now).await;
        let (excluded_added, excluded_removed) = diff(&self.last.excluded, &computed.excluded);
        let first = self.version == 0;
        let moved = !(added.is_empty()
            && removed.is_empty()
            && excluded_added.is_empty()
            && excluded_removed.is_empty()
            && computed.not_evaluated == self.last.not_evaluated);
        if !first && !moved {
            self.last.next_change = computed.next_change;
            return None;
        }
        let history = (first && self.history.is_empty() || computed.counts != self.last.counts)
            .then(|| {
                let point = HistoryPoint {
                    at: now,
                    counts: computed.counts,
                };
                if self.history.len() as u32 >= HISTORY_POINTS {
                    self.history.pop_front();
                }
                self.history.push_back(point.clone());
                point
            });
        if let Some(point) = &history
            && let Err(error) = self.store.append_history(point).await
        {
            tracing::warn!(%error, "could not record the findings count; the chart will miss a point");
        }
        let from_version = self.version;
        self.version += 1;
        let (pools, departments) = super::facets(&computed.findings);
        let report = Arc::new(MismatchReport {
            version: self.version,
            computed_at: now,
            counts: computed.counts,
            offset: 0,
            total: computed.findings.len(),
            pools,
            departments,
            findings: computed.findings.clone(),
            excluded: computed.excluded.clone(),
            exclusions: self.config.exclusions(),
            grace_period_days: self.config.grace_period.whole_days() as u32,
            history: self.history.iter().cloned().collect(),
            not_evaluated: computed.not_evaluated.clone(),
        });
        let opening = super::page(&report, &|_| true, 0, super::OPENING_PAGE);
        let opening: Arc<str> = serde_json::to_string(&opening)
            .expect("reports serialise")
            .into();
        let change = (!first).then(|| {
            let change = ReportChange {
                from_version,
                version: self.version,
                computed_at: now,
                counts: computed.counts,
                added,
                removed,
                excluded_added,
                excluded_removed,
                history,
                not_evaluated: computed.not_evaluated.clone(),
            };
            let json = serde_json::to_string(&change)
                .expect("changes serialise")
                .into();
            Arc::new(PublishedChange { change, json })
        });
        self.last = computed;
        Some((Arc::new(Published { report, opening }), change))
    }
}

impl Engine {
    /// Raises an event for each finding that newly holds at high risk, once per user, rule and
    /// start (a restart finds them all again, and announces none twice). An accepted exception
    /// takes a finding out of the report's findings, so none is raised for it.
    async fn announce_high_risk(&mut self, added: &[Finding], computed_at: time::OffsetDateTime) {
        let before: HashMap<FindingKey, Risk> = self
            .last
            .findings
            .iter()
            .map(|f| (f.key(), f.risk))
            .collect();
        let mut fresh: Vec<Finding> = std::mem::take(&mut self.unannounced);
        fresh.extend(
            added
                .iter()
                .filter(|f| f.risk == Risk::High && before.get(&f.key()) != Some(&Risk::High))
                .cloned(),
        );
        if fresh.is_empty() {
            return;
        }
        let raise = async {
            let mut write = self.store.write().await?;
            let now = time::OffsetDateTime::now_utc();
            for finding in &fresh {
                // Once per occurrence: by when it began to hold, or, when that is not known, by
                // when it was found (a restart may then announce it once more).
                let key = format!(
                    "high_risk_finding:{}:{}:{}",
                    finding.user_id,
                    finding.rule.as_str(),
                    crate::store::stamp(finding.since.unwrap_or(computed_at))
                );
                let notice = Notice::HighRiskFinding {
                    user_id: finding.user_id,
                    display_name: finding.display_name.clone(),
                    sam_account_name: finding.sam_account_name.clone(),
                    rule: finding.rule.as_str().to_owned(),
                    why: finding.why.clone(),
                };
                notify::emit_once(&mut write, now, None, notice, Some(&key)).await?;
            }
            write.commit().await
        };
        if let Err(error) = raise.await {
            tracing::warn!(%error, "could not record new high-risk findings for notification; trying again at the next change");
            self.unannounced = fresh;
        }
    }
}

/// Findings new or different in `new`, and keys gone from it.
fn diff(old: &[Finding], new: &[Finding]) -> (Vec<Finding>, Vec<FindingKey>) {
    let before: HashMap<FindingKey, &Finding> = old.iter().map(|f| (f.key(), f)).collect();
    let after: HashMap<FindingKey, &Finding> = new.iter().map(|f| (f.key(), f)).collect();
    let added = new
        .iter()
        .filter(|f| before.get(&f.key()).is_none_or(|old| *old != *f))
        .cloned()
        .collect();
    let removed = old
        .iter()
        .map(Finding::key)
        .filter(|key| !after.contains_key(key))
        .collect();
    (added, removed)
}
