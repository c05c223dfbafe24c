//! The executor against the simulator: whole operations, exactly-once under double starts and
//! concurrent drivers, injected failures and hangs, retry, and settling what a crash left.

use super::*;
use crate::backend::sim::{Fault, FaultKind, SimClock, Simulator};
use crate::report::ReportConfig;
use crate::workflow::WorkflowPolicy;
use crate::workflow::machine::Act;
use deprov_wire::directory::Fact;
use deprov_wire::workflow::{NewRequest, ReasonCategory, Urgency};
use time::macros::datetime;

const START: OffsetDateTime = datetime!(2026-11-23 10:00 UTC);

struct Rig {
    sim: Arc<Simulator>,
    executor: Executor,
    workflow: Workflow,
    directory: Directory,
    store: Store,
    _data: tempfile::TempDir,
}

/// Jane: see [`crate::fixtures::leaver`].
fn jane() -> DirectoryUser {
    crate::fixtures::leaver(START)
}

async fn rig_on(data: tempfile::TempDir, sim: Arc<Simulator>) -> Rig {
    let deployment = Deployment::simulated(Arc::clone(&sim));
    let store = Store::open_for_tests(data.path()).await;
    let directory = Directory::start(Arc::clone(&deployment.directory), deployment.shell.clone())
        .await
        .unwrap();
    let clock = {
        let source = Arc::clone(&deployment.directory);
        Arc::new(move || source.now())
    };
    let workflow = Workflow::start(store.clone(), WorkflowPolicy::default(), clock)
        .await
        .unwrap();
    let executor = Executor::new(
        store.clone(),
        &deployment,
        workflow.clone(),
        directory.clone(),
        Duration::from_millis(300),
    );
    executor.recover().await.unwrap();
    Rig {
        sim,
        executor,
        workflow,
        directory,
        store,
        _data: data,
    }
}

async fn rig() -> Rig {
    let users = vec![jane(), crate::fixtures::user(10, "john.roe", START)];
    let sim = Arc::new(Simulator::with_users(users, SimClock::frozen(START)));
    rig_on(tempfile::tempdir().unwrap(), sim).await
}

impl Rig {
    /// An approved request for Jane; returns its id and version.
    async fn approved(&self, urgency: Urgency) -> (i64, i64) {
        let new = NewRequest {
            user_id: Some(jane().id),
            user: None,
            external_ref: None,
            reason: ReasonCategory::Termination,
            reason_text: "Walked out".into(),
            urgency,
            effective_at: None,
            grace_days: Some(30),
            protected_override: None,
        };
        let snapshot = self.directory.snapshot();
        let request = self
            .workflow
            .create("manager", new, &snapshot, &ReportConfig::default())
            .await
            .unwrap();
        let approved = self
            .workflow
            .decide(
                request.id,
                Act::Approve { by: "approver" },
                request.version,
                "",
            )
            .await
            .unwrap();
        (approved.id, approved.version)
    }

    /// Runs `operation` to its end; giving Lync back is asked by one admin and, where a second
    /// must confirm, confirmed by another.
    async fn run(&self, id: i64, operation: Operation) -> ExecutionView {
        let version = self.workflow.get(id).await.unwrap().unwrap().version;
        let reason = Some("Rehired on the same contract");
        let mut begun = Begun::Asked;
        for admin in ["admin", "admin2"] {
            begun = self
                .executor
                .begin(id, operation, admin, version, Some("janedoe"), reason)
                .await
                .unwrap();
            if begun != Begun::Asked {
                break;
            }
        }
        self.executor.drive(started(begun)).await.unwrap();
        self.executor.view(id).await.unwrap()
    }

    /// Arms `kind` for the next call of `cmdlet`.
    fn fault(&self, cmdlet: &str, kind: FaultKind) {
        self.sim.inject(Fault {
            cmdlet: cmdlet.into(),
            kind,
            times: 1,
        });
    }

    async fn jane_now(&self) -> DirectoryUser {
        self.sim.read_user(jane().id).await.unwrap()
    }

    async fn audit_actions(&self) -> Vec<String> {
        self.store
            .read()
            .await
            .unwrap()
            .audit_log()
            .actions()
            .await
            .unwrap()
    }
}

fn states(view: &ExecutionView) -> Vec<(StepState, u32)> {
    view.operations
        .last()
        .unwrap()
        .steps
        .iter()
        .map(|s| (s.state, s.attempts))
        .collect()
}

#[tokio::test]
async fn immediate_disconnect_stage_one_cuts_the_user_off_and_keeps_a_backup() {
    let rig = rig().await;
    let (id, _) = rig.approved(Urgency::ImmediateDisconnect).await;
    let view = rig.run(id, Operation::StageOne).await;
    assert_eq!(view.request.state, RequestState::StageOneDone);
    assert_eq!(states(&view), vec![(StepState::Done, 1); 4]);
    assert_eq!(
        view.request.stage_two_due_at,
        Some(START + time::Duration::days(30))
    );
    let jane_now = rig.jane_now().await;
    let lync = jane_now.lync.as_ref().unwrap();
    assert!(!lync.enabled);
    assert!(lync.sip_address.lhs().starts_with("jane.doe."));
    assert!(
        lync.certificates
            .known()
            .unwrap()
            .iter()
            .all(|c| c.revoked_from.is_some())
    );
    assert!(
        jane_now.endpoints.known().unwrap().is_empty(),
        "a rename drops sessions at once"
    );
    let backup = rig.executor.backup_document(id).await.unwrap();
    assert_eq!(backup.backups.len(), 1);
    assert_eq!(
        backup.backups[0]
            .user
            .lync
            .as_ref()
            .unwrap()
            .sip_address
            .to_string(),
        "sip:jane.doe@contoso.com"
    );
    let steps = rig
        .audit_actions()
        .await
        .into_iter()
        .filter(|a| a == "execution.step")
        .count();
    assert_eq!(steps, 4, "every step is audited");
}

#[tokio::test]
async fn a_double_start_is_refused_and_two_drivers_run_each_step_once() {
    let rig = rig().await;
    let (id, version) = rig.approved(Urgency::ImmediateDisconnect).await;
    let op = rig
        .executor
        .begin(
            id,
            Operation::StageOne,
            "admin",
            version,
            Some("janedoe"),
            None,
        )
        .await
        .unwrap();
    let second = rig
        .executor
        .begin(
            id,
            Operation::StageOne,
            "admin2",
            version,
            Some("janedoe"),
            None,
        )
        .await;
    assert!(
        matches!(second, Err(ExecutionError::Conflict(_))),
        "{second:?}"
    );
    let op = started(op);
    let (a, b) = tokio::join!(rig.executor.drive(op), rig.executor.drive(op));
    a.unwrap();
    b.unwrap();
    let view = rig.executor.view(id).await.unwrap();
    assert_eq!(states(&view), vec![(StepState::Done, 1); 4]);
    assert_eq!(view.operations.len(), 1);
}

#[tokio::test]
async fn a_destructive_operation_needs_the_account_name() {
    let rig = rig().await;
    let (id, version) = rig.approved(Urgency::ImmediateDisconnect).await;
    let refused = rig
        .executor
        .begin(
            id,
            Operation::StageOne,
            "admin",
            version,
            Some("someone"),
            None,
        )
        .await;
    assert!(
        matches!(
            &refused,
            Err(ExecutionError::Refused {
                field: Some("confirm"),
                ..
            })
        ),
        "{refused:?}"
    );
    assert_eq!(
        rig.workflow.get(id).await.unwrap().unwrap().state,
        RequestState::Approved
    );
}

#[tokio::test]
async fn a_failed_step_fails_the_request_and_a_retry_runs_only_that_step_again() {
    let rig = rig().await;
    let (id, _) = rig.approved(Urgency::ImmediateDisconnect).await;
    rig.fault("Revoke-CsClientCertificate", FaultKind::Fail);
    let view = rig.run(id, Operation::StageOne).await;
    assert_eq!(view.request.state, RequestState::Failed);
    assert!(view.can_retry);
    let failed = &view.operations[0].steps[3];
    assert_eq!(failed.state, StepState::Failed);
    assert!(
        failed
            .error
            .as_deref()
            .unwrap()
            .contains("simulated failure")
    );
    assert_eq!(view.next[0].operation, Operation::Rollback);

    let op = rig
        .executor
        .retry(id, "admin", view.request.version)
        .await
        .unwrap();
    rig.executor.drive(op).await.unwrap();
    let view = rig.executor.view(id).await.unwrap();
    assert_eq!(view.request.state, RequestState::StageOneDone);
    assert_eq!(
        states(&view),
        [
            (StepState::Done, 1),
            (StepState::Done, 1),
            (StepState::Done, 1),
            (StepState::Done, 2)
        ]
    );
    assert!(
        view.operations[0].steps[3]
            .note
            .as_deref()
            .unwrap()
            .contains("Attempt 1 failed")
    );
}

#[tokio::test]
async fn a_hang_that_changed_nothing_is_read_back_as_not_done_and_retried() {
    let rig = rig().await;
    let (id, _) = rig.approved(Urgency::Standard).await;
    rig.fault("Set-CsUser", FaultKind::Hang);
    let view = rig.run(id, Operation::StageOne).await;
    assert_eq!(view.request.state, RequestState::Failed);
    let step = &view.operations[0].steps[1];
    assert_eq!(
        step.state,
        StepState::Unknown,
        "no answer: not counted as failed, since it may still happen"
    );
    assert!(
        step.note
            .as_deref()
            .unwrap()
            .contains("did not take effect"),
        "{step:?}"
    );
    assert!(rig.jane_now().await.lync.unwrap().enabled);
    assert!(view.can_retry);
    assert!(
        view.next[0]
            .refused
            .as_deref()
            .unwrap()
            .contains("retry first"),
        "no rollback while an outcome is unknown"
    );

    let op = rig
        .executor
        .retry(id, "admin", view.request.version)
        .await
        .unwrap();
    rig.executor.drive(op).await.unwrap();
    assert!(!rig.jane_now().await.lync.unwrap().enabled);
    let view = rig.executor.view(id).await.unwrap();
    assert_eq!(view.request.state, RequestState::StageOneDone);
}

#[tokio::test]
async fn a_hang_that_changed_lync_is_read_back_as_done_and_not_run_again() {
    let rig = rig().await;
    let (id, _) = rig.approved(Urgency::Standard).await;
    rig.fault("Set-CsUser", FaultKind::HangAfterApplying);
    let view = rig.run(id, Operation::StageOne).await;
    assert_eq!(view.request.state, RequestState::StageOneDone);
    let step = &view.operations[0].steps[1];
    assert_eq!((step.state, step.attempts), (StepState::Done, 1));
    assert!(
        step.note
            .as_deref()
            .unwrap()
            .contains("took effect: not run again")
    );
}

/// The process dies after "running" is committed: the restart reads the user back.
#[tokio::test]
async fn a_restart_settles_a_step_cut_off_mid_call_by_reading_the_user() {
    for applied in [true, false] {
        let rig = rig().await;
        let (id, version) = rig.approved(Urgency::Standard).await;
        let kind = if applied {
            FaultKind::HangAfterApplying
        } else {
            FaultKind::Hang
        };
        rig.fault("Set-CsUser", kind);
        let op = rig
            .executor
            .begin(id, Operation::StageOne, "admin", version, None, None)
            .await
            .unwrap();
        // Killed during the call: the driver is dropped before its timeout fires.
        let driver = rig.executor.drive(started(op));
        let _ = tokio::time::timeout(Duration::from_millis(100), driver).await;
        assert_eq!(step_state(&rig, started(op), 1).await, StepState::Running);

        let Rig { sim, _data, .. } = rig;
        let restarted = rig_on(_data, sim).await;
        let view = restarted.executor.view(id).await.unwrap();
        let step = &view.operations[0].steps[1];
        assert!(
            step.note
                .as_deref()
                .unwrap()
                .starts_with("The server stopped during this step")
        );
        assert_eq!(step.attempts, 1, "settled by reading, not by running again");
        if applied {
            assert_eq!(step.state, StepState::Done);
            assert_eq!(view.request.state, RequestState::StageOneDone);
        } else {
            assert_eq!(step.state, StepState::Failed);
            assert_eq!(view.request.state, RequestState::Failed);
            assert!(view.can_retry);
        }
        assert!(
            restarted
                .audit_actions()
                .await
                .iter()
                .any(|a| a == "execution.finish")
        );
    }
}

#[tokio::test]
async fn stage_two_waits_for_the_grace_period_then_a_restore_brings_everything_back() {
    let rig = rig().await;
    let (id, _) = rig.approved(Urgency::ImmediateDisconnect).await;
    rig.run(id, Operation::StageOne).await;
    let version = rig.workflow.get(id).await.unwrap().unwrap().version;
    let early = rig
        .executor
        .begin(
            id,
            Operation::StageTwo,
            "admin",
            version,
            Some("janedoe"),
            None,
        )
        .await;
    assert!(
        matches!(&early, Err(ExecutionError::Refused { message, .. }) if message.starts_with("Stage 2 is due on")),
        "{early:?}"
    );
    assert!(
        rig.workflow
            .list(Show::Due, Readable::Every, &Narrow::default(), 0, 50)
            .await
            .unwrap()
            .0
            .is_empty()
    );
    rig.sim.advance_clock(time::Duration::days(30));
    assert_eq!(
        rig.workflow
            .list(Show::Due, Readable::Every, &Narrow::default(), 0, 50)
            .await
            .unwrap()
            .1,
        1
    );

    let view = rig.run(id, Operation::StageTwo).await;
    assert_eq!(view.request.state, RequestState::Removed);
    assert!(rig.jane_now().await.lync.is_none());
    assert_eq!(
        rig.executor
            .backup_document(id)
            .await
            .unwrap()
            .export_files
            .len(),
        1
    );

    let view = rig.run(id, Operation::Restore).await;
    assert_eq!(view.request.state, RequestState::Restored, "{view:#?}");
    let lync = rig.jane_now().await.lync.unwrap();
    assert!(lync.enabled);
    assert_eq!(lync.sip_address.to_string(), "sip:jane.doe@contoso.com");
    assert_eq!(
        (lync.contact_count, lync.conference_count),
        (Fact::Known(12), Fact::Known(2))
    );
    assert_eq!(lync.policies.known().unwrap().len(), 2);
    assert_eq!(lync.registrar_pool.as_deref(), Some(crate::fixtures::POOL));
}

#[tokio::test]
async fn rollback_undoes_stage_one() {
    let rig = rig().await;
    let (id, _) = rig.approved(Urgency::ImmediateDisconnect).await;
    rig.run(id, Operation::StageOne).await;
    let view = rig.run(id, Operation::Rollback).await;
    assert_eq!(view.request.state, RequestState::RolledBack);
    let lync = rig.jane_now().await.lync.unwrap();
    assert!(lync.enabled);
    assert_eq!(lync.sip_address.to_string(), "sip:jane.doe@contoso.com");
    assert!(view.next.is_empty());
}

#[tokio::test]
async fn the_periodic_settling_leaves_a_started_operation_alone_and_settles_an_abandoned_one() {
    let rig = rig().await;
    let (id, version) = rig.approved(Urgency::Standard).await;
    let op = rig
        .executor
        .begin(id, Operation::StageOne, "admin", version, None, None)
        .await
        .unwrap();
    // Started, its driver not yet running: the sweep must not touch it.
    assert_eq!(rig.executor.recover().await.unwrap(), 0);
    rig.executor.drive(started(op)).await.unwrap();
    assert_eq!(
        rig.workflow.get(id).await.unwrap().unwrap().state,
        RequestState::StageOneDone
    );

    // A driver that stopped on a storage error leaves its operation running, unclaimed.
    let rig = self::rig().await;
    let (id, version) = rig.approved(Urgency::Standard).await;
    rig.executor
        .begin(id, Operation::StageOne, "admin", version, None, None)
        .await
        .unwrap();
    rig.executor.claimed.lock().unwrap().clear();
    assert_eq!(rig.executor.recover().await.unwrap(), 1);
    let view = rig.executor.view(id).await.unwrap();
    assert_eq!(view.request.state, RequestState::Failed);
    assert!(view.can_retry);
    let op = rig
        .executor
        .retry(id, "admin", view.request.version)
        .await
        .unwrap();
    rig.executor.drive(op).await.unwrap();
    assert_eq!(
        rig.workflow.get(id).await.unwrap().unwrap().state,
        RequestState::StageOneDone
    );
}

/// Instance `holder` of the portal on the rig's store and deployment, leasing for `lasts`, with
/// a step limit long enough for a hang to outlast the lease.
fn instance(rig: &Rig, holder: &str, lasts: Duration) -> Executor {
    Executor::new(
        rig.store.clone(),
        &Deployment::simulated(Arc::clone(&rig.sim)),
        rig.workflow.clone(),
        rig.directory.clone(),
        Duration::from_secs(10),
    )
    .leasing(Lease {
        holder: holder.into(),
        lasts,
    })
}

async fn step_state(rig: &Rig, operation: i64, position: usize) -> StepState {
    let mut read = rig.store.read().await.unwrap();
    read.operations().steps(operation).await.unwrap()[position].state
}

/// Two instances on one database: B leaves A's running operation alone while A renews its lease,
/// and settles it (by reading the user back, never by running the step again) once A has died
/// and the lease has lapsed.
#[tokio::test]
async fn another_instance_settles_an_operation_only_after_its_lease_lapses() {
    let rig = rig().await;
    let lease = Duration::from_millis(600);
    let a = instance(&rig, "instance-a", lease);
    let b = instance(&rig, "instance-b", lease);
    let (id, version) = rig.approved(Urgency::Standard).await;
    rig.fault("Set-CsUser", FaultKind::Hang);
    let op = started(
        a.begin(id, Operation::StageOne, "admin", version, None, None)
            .await
            .unwrap(),
    );
    let driver = {
        let a = a.clone();
        tokio::spawn(async move { a.drive(op).await })
    };
    while step_state(&rig, op, 1).await != StepState::Running {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A is alive, hung in the call, renewing: twice the lease later, B still keeps off.
    tokio::time::sleep(lease * 2).await;
    assert_eq!(b.recover().await.unwrap(), 0, "A's lease is alive");
    assert_eq!(step_state(&rig, op, 1).await, StepState::Running);

    // A dies (its task, heartbeat included, is gone); once the lease lapses, B takes over.
    driver.abort();
    let _ = driver.await;
    assert_eq!(b.recover().await.unwrap(), 0, "not before the lease lapses");
    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    assert_eq!(b.recover().await.unwrap(), 1);
    let holder = rig
        .store
        .read()
        .await
        .unwrap()
        .operations()
        .holder(op)
        .await
        .unwrap();
    assert_eq!(holder, "instance-b");
    let view = b.view(id).await.unwrap();
    let step = &view.operations[0].steps[1];
    assert_eq!(step.state, StepState::Failed, "the hang changed nothing");
    assert_eq!(step.attempts, 1, "settled by reading, not by running again");
    assert_eq!(view.request.state, RequestState::Failed);
    assert_eq!(a.recover().await.unwrap(), 0, "settled once");

    // B retries and finishes it; A, restarted under its own name, would find nothing to do.
    let op = b.retry(id, "admin", view.request.version).await.unwrap();
    b.drive(op).await.unwrap();
    assert_eq!(
        rig.workflow.get(id).await.unwrap().unwrap().state,
        RequestState::StageOneDone
    );
}

/// The operation `begun` started (these tests never need a second admin).
fn started(begun: Begun) -> i64 {
    match begun {
        Begun::Started(operation) => operation,
        Begun::Asked => panic!("the operation waits for a second admin"),
    }
}
