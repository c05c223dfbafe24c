//! Slow background change for the embedded demo (`--sim-churn on`): now and then an AD account is
//! disabled (a leaver, Lync forgotten), re-enabled, or temporarily disabled in Lync, so the
//! mismatch report visibly moves. Off in tests, which drive change themselves.

use super::Simulator;
use crate::backend::{DirectorySource, LyncShell};
use deprov_wire::cmdlet::Cmdlet;
use deprov_wire::directory::UserId;
use std::sync::Weak;
use std::time::Duration;

/// Runs until the simulator is dropped.
pub async fn run(simulator: Weak<Simulator>, every: Duration, seed: u64) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let ids: Vec<UserId> = match simulator.upgrade() {
        Some(sim) => match sim.read_directory(None).await {
            Ok(read) => read.users().iter().map(|u| u.id).collect(),
            Err(_) => return,
        },
        None => return,
    };
    if ids.is_empty() {
        return;
    }
    // Accounts this task disabled, to re-enable some (a provisioning system fixing its mistake).
    let mut disabled: Vec<UserId> = Vec::new();
    loop {
        tokio::time::sleep(every).await;
        let Some(sim) = simulator.upgrade() else {
            return;
        };
        let roll = rng.u8(..10);
        if roll < 2 && !disabled.is_empty() {
            let id = disabled.swap_remove(rng.usize(..disabled.len()));
            let _ = sim.ad_enable(id);
            continue;
        }
        let id = ids[rng.usize(..ids.len())];
        let Ok(user) = sim.read_user(id).await else {
            continue;
        };
        let lync_enabled = user.lync.as_ref().is_some_and(|l| l.enabled);
        if roll < 4 && user.ad.account_disabled && lync_enabled {
            // Someone ran stage 1 by hand.
            let cmdlet = Cmdlet::SetCsUserEnabled {
                identity: user.ad.user_principal_name.clone(),
                enabled: false,
            };
            let _ = sim.run(&cmdlet).await;
        } else if !user.ad.account_disabled
            && user.ad.protected_groups.is_empty()
            && sim.ad_disable(id).is_ok()
        {
            disabled.push(id);
        }
    }
}
