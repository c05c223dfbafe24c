//! Search over a snapshot, and the live copy following the backend.

use super::*;
use crate::backend::sim::{SimClock, SimConfig, Simulator};
use deprov_wire::directory::{AdState, LyncState};
use time::macros::datetime;

const START: OffsetDateTime = datetime!(2026-11-23 09:00 UTC);

fn mark(usn: u64) -> Watermark {
    Watermark::new("test", usn)
}

fn snapshot(users: usize, seed: u64) -> Snapshot {
    let users = crate::backend::sim::generate::directory(users, seed, START)
        .into_iter()
        .map(Arc::new)
        .collect();
    Snapshot::build(users, mark(0), START)
}

/// A copy of `base` brought up to date with `read`.
fn after(base: &Snapshot, read: DirectoryRead) -> Snapshot {
    let mut next = base.clone();
    next.update(read, START);
    next
}

fn query(text: &str) -> SearchQuery {
    SearchQuery {
        text: text.to_owned(),
        limit: 1_000,
        ..SearchQuery::default()
    }
}

fn names(found: &[&Arc<DirectoryUser>]) -> Vec<String> {
    found.iter().map(|u| u.ad.display_name.clone()).collect()
}

/// The naive definition search must agree with: every term is a substring of some name field.
fn naive_matches(snapshot: &Snapshot, text: &str) -> usize {
    let terms: Vec<String> = text
        .to_lowercase()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    snapshot
        .users()
        .iter()
        .filter(|u| {
            let mut fields = vec![
                u.ad.display_name.to_lowercase(),
                u.ad.sam_account_name.to_lowercase(),
                u.ad.user_principal_name.to_lowercase(),
            ];
            if let Some(l) = &u.lync {
                fields.push(l.sip_address.without_scheme().to_lowercase());
            }
            fields.extend(u.ad.employee_id.as_ref().map(|e| e.to_lowercase()));
            terms
                .iter()
                .all(|t| fields.iter().any(|f| f.contains(t.as_str())))
        })
        .count()
}

#[test]
fn finds_any_part_of_any_name_exactly_as_often_as_a_naive_scan() {
    let snapshot = snapshot(3_000, 11);
    for text in [
        "an",
        "smith",
        "de jong",
        "@contoso",
        "lyncwatch",
        "anna.b",
        "zzzz",
        "o'brien",
        "room-",
    ] {
        let (_, total) = snapshot.search(&query(text));
        assert_eq!(total, naive_matches(&snapshot, text), "query {text:?}");
    }
}

#[test]
fn finds_by_sam_upn_and_sip_address_with_or_without_scheme() {
    let snapshot = snapshot(3_000, 5);
    let someone = snapshot
        .users()
        .iter()
        .find(|u| u.lync.is_some() && !u.sip_disjoint_from_upn())
        .unwrap();
    let sip = someone.lync.as_ref().unwrap().sip_address.to_string();
    for text in [
        someone.ad.sam_account_name.clone(),
        someone.ad.user_principal_name.to_uppercase(),
        sip.clone(),
    ] {
        let (found, _) = snapshot.search(&query(&text));
        assert_eq!(
            found.first().map(|u| u.id),
            Some(someone.id),
            "query {text:?} should rank its owner first"
        );
    }
}

#[test]
fn ranks_exact_then_prefix_then_word_then_substring_and_ties_by_name() {
    let snapshot = snapshot(5_000, 2);
    let (found, _) = snapshot.search(&query("ann"));
    let names = names(&found);
    let first_inner = names
        .iter()
        .position(|n| !n.to_lowercase().starts_with("ann"))
        .unwrap_or(names.len());
    assert!(
        names[..first_inner]
            .iter()
            .all(|n| n.to_lowercase().starts_with("ann"))
    );
    assert!(
        names[first_inner..]
            .iter()
            .all(|n| !n.to_lowercase().starts_with("ann")),
        "prefix matches come first"
    );
    let mut sorted = names[..first_inner].to_vec();
    sorted.sort_by_key(|n| n.to_lowercase());
    assert_eq!(names[..first_inner], sorted[..], "ties are in name order");

    let (found, _) = snapshot.search(&query("anna johansson"));
    if let Some(first) = found.first() {
        assert!(
            first
                .ad
                .display_name
                .to_lowercase()
                .starts_with("anna johansson")
        );
    }
}

#[test]
fn filters_narrow_and_paging_slices_the_same_order() {
    let snapshot = snapshot(4_000, 9);
    let all = SearchQuery {
        lync: Some(LyncState::TemporarilyDisabled),
        ad: Some(AdState::Disabled),
        ..query("")
    };
    let (found, total) = snapshot.search(&all);
    assert_eq!(found.len(), total);
    assert!(total > 0);
    assert!(
        found
            .iter()
            .all(|u| u.lync_state() == LyncState::TemporarilyDisabled
                && u.ad_state() == AdState::Disabled)
    );

    let pool = snapshot.pools()[0].clone();
    let in_pool = SearchQuery {
        pool: Some(pool.to_uppercase()),
        ..query("")
    };
    let (found, _) = snapshot.search(&in_pool);
    assert!(
        found
            .iter()
            .all(|u| u.lync.as_ref().unwrap().registrar_pool.as_deref() == Some(pool.as_str()))
    );

    let (everything, total) = snapshot.search(&query("a"));
    let page = |offset| SearchQuery {
        offset,
        limit: 25,
        ..query("a")
    };
    let (second, paged_total) = snapshot.search(&page(25));
    assert_eq!(paged_total, total);
    assert_eq!(names(&second), names(&everything[25..50]));
    let (past_end, _) = snapshot.search(&page(total + 10));
    assert!(past_end.is_empty());
}

#[test]
fn empty_and_odd_queries_are_harmless() {
    let snapshot = snapshot(500, 1);
    assert_eq!(snapshot.search(&query("")).1, 500);
    assert_eq!(snapshot.search(&query("   ")).1, 500);
    assert_eq!(snapshot.search(&query("\u{1F600}")).1, 0);
    assert_eq!(snapshot.search(&query("\t\n")).1, 500);
    let empty = Snapshot::build(Vec::new(), mark(0), START);
    assert_eq!(empty.search(&query("anna")).1, 0);
}

#[tokio::test]
async fn the_live_copy_follows_backend_changes_within_a_second() {
    let sim = Arc::new(Simulator::new(
        &SimConfig {
            users: 1_000,
            seed: 4,
        },
        SimClock::frozen(START),
    ));
    let directory = Directory::start(sim.clone(), None).await.unwrap();
    let target = directory
        .snapshot()
        .users()
        .iter()
        .find(|u| !u.ad.account_disabled)
        .unwrap()
        .id;
    let mut updates = directory.subscribe();
    updates.mark_unchanged();
    sim.ad_disable(target).unwrap();
    tokio::time::timeout(Duration::from_secs(1), updates.changed())
        .await
        .unwrap()
        .unwrap();
    assert!(
        directory
            .snapshot()
            .user(target)
            .unwrap()
            .ad
            .account_disabled
    );
    assert!(directory.failure().is_none());
}

#[test]
fn renaming_a_user_reindexes_the_search() {
    let base = snapshot(200, 8);
    let mut renamed = (**base.users().iter().find(|u| u.lync.is_some()).unwrap()).clone();
    let domain = renamed
        .lync
        .as_ref()
        .unwrap()
        .sip_address
        .domain()
        .to_owned();
    renamed.lync.as_mut().unwrap().sip_address =
        SipAddress::new("qqq.renamed123456", &domain).unwrap();
    let id = renamed.id;
    let next = after(
        &base,
        DirectoryRead::Changes {
            users: vec![renamed],
            deleted: vec![],
            high_water: mark(1),
        },
    );
    let (found, _) = next.search(&query("qqq.renamed"));
    assert_eq!(found.iter().map(|u| u.id).collect::<Vec<_>>(), vec![id]);
    assert!(next.sip_in_use(&SipAddress::new("qqq.renamed123456", &domain).unwrap()));
}

/// Relevance as the definition says it, field by field: 0 exact (a field, or the UPN's or SIP
/// address's left-hand side), 1 a field's start, 2 a word's start, 3 anywhere.
fn naive_relevance(user: &DirectoryUser, term: &str) -> Option<u8> {
    let mut fields = vec![
        user.ad.display_name.to_lowercase(),
        user.ad.sam_account_name.to_lowercase(),
        user.ad.user_principal_name.to_lowercase(),
    ];
    if let Some(l) = &user.lync {
        fields.push(l.sip_address.without_scheme().to_lowercase());
    }
    fields.extend(user.ad.employee_id.as_ref().map(|e| e.to_lowercase()));
    let lhs = |f: &str| f.split('@').next().unwrap_or_default().to_owned();
    if fields
        .iter()
        .any(|f| f == term || (f.contains('@') && lhs(f) == term))
    {
        return Some(0);
    }
    if fields.iter().any(|f| f.starts_with(term)) {
        return Some(1);
    }
    let breaks = [' ', '.', '-', '_', '\''];
    if fields.iter().any(|f| {
        f.match_indices(term)
            .any(|(i, _)| i > 0 && breaks.contains(&(f.as_bytes()[i - 1] as char)))
    }) {
        return Some(2);
    }
    fields.iter().any(|f| f.contains(term)).then_some(3)
}

#[test]
fn ranking_matches_the_definition_for_single_letters_and_longer_terms() {
    let snapshot = snapshot(3_000, 12);
    for term in ["e", "z", "1", "@", ".", "an", "son", "jo"] {
        let mut expected: Vec<(u8, usize)> = snapshot
            .users()
            .iter()
            .enumerate()
            .filter_map(|(i, u)| Some((naive_relevance(u, term)?, i)))
            .collect();
        expected.sort();
        let (found, total) = snapshot.search(&SearchQuery {
            text: term.to_owned(),
            limit: 100,
            ..SearchQuery::default()
        });
        assert_eq!(total, expected.len(), "count for {term:?}");
        let ids: Vec<_> = found.iter().map(|u| u.id).collect();
        let expected_ids: Vec<_> = expected
            .iter()
            .take(100)
            .map(|&(_, i)| snapshot.users()[i].id)
            .collect();
        assert_eq!(ids, expected_ids, "order for {term:?}");
    }
}

#[test]
fn a_full_read_replaces_the_copy_and_deletions_remove_users() {
    let base = snapshot(300, 9);
    let mut users: Vec<DirectoryUser> = base.users().iter().map(|u| (**u).clone()).collect();
    let gone = users.pop().unwrap();
    let full = after(
        &base,
        DirectoryRead::Full {
            users: users.clone(),
            high_water: mark(5),
        },
    );
    assert_eq!(full.len(), 299);
    assert!(
        full.user(gone.id).is_none(),
        "missing from a full read: gone"
    );

    let deleted = users[3].id;
    let mut changed = users[4].clone();
    changed.ad.department = "Changed".into();
    let next = after(
        &full,
        DirectoryRead::Changes {
            users: vec![changed.clone()],
            deleted: vec![deleted],
            high_water: mark(6),
        },
    );
    assert_eq!(next.len(), 298);
    assert!(next.user(deleted).is_none());
    assert_eq!(next.user(changed.id).unwrap().ad.department, "Changed");
    assert_eq!(next.high_water, mark(6));
    let name = &changed.ad.display_name;
    assert!(
        next.search(&query(name))
            .0
            .iter()
            .any(|u| u.id == changed.id),
        "the index was rebuilt after the deletion"
    );
}

#[test]
fn a_patched_copy_is_the_copy_built_from_scratch() {
    let mut rng = fastrand::Rng::with_seed(21);
    let mut users: Vec<DirectoryUser> = crate::backend::sim::generate::directory(400, 21, START);
    let mut extra = crate::backend::sim::generate::directory(460, 22, START).split_off(400);
    let mut live = Snapshot::build(
        users.iter().cloned().map(Arc::new).collect(),
        mark(0),
        START,
    );
    for round in 1..=300u64 {
        let i = rng.usize(..users.len());
        let mut deleted = Vec::new();
        match round % 7 {
            // What execution does most: states, SIP addresses, pools; each keeps the user's place.
            0 | 1 => users[i].ad.account_disabled = !users[i].ad.account_disabled,
            2 => {
                if let Some(lync) = users[i].lync.as_mut() {
                    let domain = lync.sip_address.domain().to_owned();
                    lync.sip_address =
                        SipAddress::new(&format!("renamed{round}"), &domain).unwrap();
                    lync.enabled = !lync.enabled;
                }
            }
            3 => {
                if let Some(lync) = users[i].lync.as_mut() {
                    lync.registrar_pool = Some(format!("pool{}.contoso.com", round % 3));
                }
            }
            4 => users[i].ad.user_principal_name = format!("upn{round}@contoso.com"),
            // Rarer: a new display name (the user moves), someone leaves, someone arrives.
            5 => users[i].ad.display_name = format!("Zed {round}"),
            _ if round % 2 == 0 => deleted.push(users.swap_remove(i).id),
            _ => users.push(extra.pop().expect("enough newcomers")),
        }
        let changed = if deleted.is_empty() {
            vec![
                users[i.min(users.len() - 1)].clone(),
                users[users.len() - 1].clone(),
            ]
        } else {
            Vec::new()
        };
        live.update(
            DirectoryRead::Changes {
                users: changed,
                deleted,
                high_water: mark(round),
            },
            START,
        );
        let fresh = Snapshot::build(
            users.iter().cloned().map(Arc::new).collect(),
            mark(round),
            START,
        );
        let ids = |s: &Snapshot| s.users().iter().map(|u| u.id).collect::<Vec<_>>();
        let (live_ids, fresh_ids) = (ids(&live), ids(&fresh));
        let first_difference = live_ids.iter().zip(&fresh_ids).position(|(a, b)| a != b);
        assert!(
            live_ids.len() == fresh_ids.len() && first_difference.is_none(),
            "order after round {round}: {} vs {} users, first difference at {first_difference:?}",
            live_ids.len(),
            fresh_ids.len()
        );
        assert_eq!(live.flags(), fresh.flags(), "flags after round {round}");
        assert_eq!(live.pools(), fresh.pools(), "pools after round {round}");
        assert!(
            *live.index == *fresh.index,
            "search index after round {round}"
        );
        assert_eq!(live.high_water, mark(round));
    }
}

/// A source whose reads fail while `failing` is set, over a simulator.
struct Flaky {
    sim: Simulator,
    failing: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl DirectorySource for Flaky {
    fn name(&self) -> &'static str {
        "flaky"
    }
    fn now(&self) -> OffsetDateTime {
        self.sim.now()
    }
    async fn health(&self) -> Result<String, BackendError> {
        Ok("flaky".into())
    }
    async fn read_directory(
        &self,
        since: Option<&Watermark>,
    ) -> Result<DirectoryRead, BackendError> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(BackendError::Partial {
                read: 10,
                message: "the DC went away".into(),
            });
        }
        self.sim.read_directory(since).await
    }
    async fn read_user(&self, id: UserId) -> Result<DirectoryUser, BackendError> {
        self.sim.read_user(id).await
    }
    async fn changed(&self, since: &Watermark) {
        tokio::select! {
            () = self.sim.changed(since) => {}
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
}

#[tokio::test]
async fn a_failing_read_keeps_the_last_good_copy_says_so_and_catches_up() {
    let source = Arc::new(Flaky {
        sim: Simulator::new(
            &SimConfig {
                users: 200,
                seed: 5,
            },
            SimClock::frozen(START),
        ),
        failing: false.into(),
    });
    let directory = Directory::start(source.clone(), None).await.unwrap();
    let target = directory.snapshot().users()[7].id;
    source
        .failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    source.sim.ad_disable(target).unwrap();
    let failed = async {
        loop {
            if let Some(failure) = directory.failure() {
                return failure;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let failure = tokio::time::timeout(Duration::from_secs(2), failed)
        .await
        .expect("the failure is reported");
    assert!(failure.error.contains("the DC went away"), "{failure:?}");
    assert_eq!(
        directory.snapshot().len(),
        200,
        "the last good copy is kept"
    );
    source
        .failing
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let caught_up = async {
        while directory.failure().is_some()
            || !directory
                .snapshot()
                .user(target)
                .unwrap()
                .ad
                .account_disabled
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), caught_up)
        .await
        .expect("catches up once reads work again");
}
