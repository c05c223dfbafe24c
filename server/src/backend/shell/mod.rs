//! The Lync Management Shell as a [`LyncShell`]: a small pool of long-lived worker processes
//! (`--lync-shell`, the argv of one worker: a local PowerShell running `shell/lync-shell.ps1`, or
//! `ssh` to a management host), started lazily, each running one call at a time over protocol 1
//! (`shell/PROTOCOL.md`).
//!
//! - [`protocol`]: the messages, and the allowlist the worker and the portal share.
//! - [`worker`]: one process, and everything that ends it.
//! - [`stand_in`]: `deprov shell-stand-in`, a worker that applies the cmdlets to AD over LDAP
//!   (or to the simulator) as Lync would: what the tests and benchmarks talk to.
//!
//! A broken worker is killed and replaced with back-off; after repeated failures to start one,
//! the shell reports itself unavailable (health, and every call) until a start works again.

pub mod protocol;
pub mod stand_in;
pub mod worker;

use super::{BackendError, CmdletOutput, LyncOnly, LyncShell};
use deprov_wire::cmdlet::Cmdlet;
use protocol::{Call, Read, Reply, ShellCertificate, ShellUser};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use worker::{Launch, Worker, WorkerError};

/// Back-off between failed starts, doubling up to the maximum.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Failed starts in a row after which the shell calls itself unavailable.
const FAILURES_BEFORE_UNAVAILABLE: u32 = 3;
/// Idle workers are pinged this often: Windows closes idle remote shells after 15 minutes.
pub const KEEPALIVE: Duration = Duration::from_secs(300);

/// How the pool starts and uses workers.
#[derive(Clone)]
pub struct ShellConfig {
    pub launch: Launch,
    pub workers: usize,
    /// The per-call deadline (`--step-timeout-secs`).
    pub call_timeout: Duration,
}

/// Starts and restarts, for health and back-off.
#[derive(Debug, Default)]
struct Starts {
    failures_in_a_row: u32,
    last_error: Option<String>,
    next_attempt: Option<Instant>,
    detail: String,
    started: u64,
    replaced: u64,
}

pub struct ShellPool {
    config: ShellConfig,
    slots: Vec<tokio::sync::Mutex<Option<Worker>>>,
    free: tokio::sync::Semaphore,
    starts: Mutex<Starts>,
}

/// How one call ended, for the caller.
enum Attempt {
    Answered(Reply),
    /// Nothing was sent: safe to say nothing happened.
    NotSent(String),
    /// Sent, and then the worker broke or went quiet: the outcome is unknown.
    Lost(WorkerError),
}

impl ShellPool {
    pub fn new(config: ShellConfig) -> Self {
        let workers = config.workers.max(1);
        Self {
            slots: (0..workers)
                .map(|_| tokio::sync::Mutex::new(None))
                .collect(),
            free: tokio::sync::Semaphore::new(workers),
            config,
            starts: Mutex::default(),
        }
    }

    fn starts(&self) -> std::sync::MutexGuard<'_, Starts> {
        self.starts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Workers started and replaced so far (the benchmark reports them).
    pub fn counts(&self) -> (u64, u64) {
        let starts = self.starts();
        (starts.started, starts.replaced)
    }

    /// Starts a worker for slot `slot`, unless the back-off says not yet.
    async fn start(&self, slot: usize) -> Result<Worker, String> {
        {
            let starts = self.starts();
            if let Some(at) = starts.next_attempt.filter(|at| Instant::now() < *at) {
                return Err(format!(
                    "the Lync shell is not running: {} (next attempt in {} s)",
                    starts.last_error.as_deref().unwrap_or("it failed to start"),
                    at.saturating_duration_since(Instant::now()).as_secs() + 1
                ));
            }
        }
        let began = Instant::now();
        match Worker::start(&self.config.launch, slot).await {
            Ok(worker) => {
                tracing::info!(slot, took_ms = began.elapsed().as_millis() as u64, detail = %worker.detail, "Lync shell worker ready");
                let mut starts = self.starts();
                if starts.failures_in_a_row > 0 {
                    tracing::info!("the Lync shell works again");
                }
                *starts = Starts {
                    detail: worker.detail.clone(),
                    started: starts.started + 1,
                    replaced: starts.replaced,
                    ..Starts::default()
                };
                Ok(worker)
            }
            Err(why) => {
                let mut starts = self.starts();
                starts.failures_in_a_row += 1;
                let backoff = FIRST_BACKOFF
                    .saturating_mul(1 << (starts.failures_in_a_row - 1).min(6))
                    .min(MAX_BACKOFF);
                starts.next_attempt = Some(Instant::now() + backoff);
                tracing::warn!(slot, error = %why, backoff_secs = backoff.as_secs(), "a Lync shell worker did not start");
                starts.last_error = Some(why.clone());
                Err(why)
            }
        }
    }

    /// Runs `call` on a free worker (starting one if needed).
    async fn attempt(&self, call: &Call) -> Attempt {
        let Ok(_permit) = self.free.acquire().await else {
            return Attempt::NotSent("the Lync shell is shutting down".to_owned());
        };
        // With as many permits as slots, one slot is free.
        let mut slot = None;
        for (index, candidate) in self.slots.iter().enumerate() {
            if let Ok(guard) = candidate.try_lock() {
                slot = Some((index, guard));
                break;
            }
        }
        let Some((index, mut guard)) = slot else {
            return Attempt::NotSent("no free Lync shell worker".to_owned());
        };
        if guard.is_none() {
            match self.start(index).await {
                Ok(worker) => *guard = Some(worker),
                Err(why) => return Attempt::NotSent(why),
            }
        }
        let worker = guard.as_mut().expect("started above");
        match worker.call(call, self.config.call_timeout).await {
            Ok(reply) => Attempt::Answered(reply),
            Err(error) => {
                tracing::warn!(slot = index, call = call.name(), %error, "ending a Lync shell worker; the call's outcome is unknown");
                worker.kill().await;
                *guard = None;
                self.starts().replaced += 1;
                Attempt::Lost(error)
            }
        }
    }

    /// A call's answer, or the error deprov acts on.
    async fn ask(&self, call: &Call) -> Result<serde_json::Value, BackendError> {
        match self.attempt(call).await {
            Attempt::Answered(reply) if reply.ok => Ok(reply.output),
            Attempt::Answered(reply) => {
                let error = reply.error.unwrap_or(protocol::ReplyError {
                    kind: "cmdlet_failed".to_owned(),
                    message: "the worker gave no reason".to_owned(),
                    fqid: String::new(),
                });
                let why = match error.kind.as_str() {
                    "not_allowed" => format!(
                        "the worker refused it (not on its allowlist): {}",
                        error.message
                    ),
                    "access_denied" => format!("access denied: {}", error.message),
                    _ => error.message,
                };
                Err(BackendError::CommandFailed {
                    cmdlet: call.name(),
                    message: why,
                })
            }
            Attempt::NotSent(why) => Err(BackendError::Unavailable(why)),
            Attempt::Lost(WorkerError::Deadline(after)) => Err(BackendError::Timeout(after)),
            Attempt::Lost(WorkerError::Broken(why)) => Err(BackendError::Lost(why)),
        }
    }

    /// Pings every idle worker; a broken one is replaced at its next use.
    pub async fn keep_alive(&self) {
        for (index, slot) in self.slots.iter().enumerate() {
            let Ok(mut guard) = slot.try_lock() else {
                continue;
            };
            let Some(worker) = guard.as_mut() else {
                continue;
            };
            if let Err(error) = worker.call(&Call::Ping, self.config.call_timeout).await {
                tracing::warn!(slot = index, %error, "an idle Lync shell worker did not answer its ping; replacing it");
                worker.kill().await;
                *guard = None;
            }
        }
    }
}

#[async_trait::async_trait]
impl LyncShell for ShellPool {
    fn name(&self) -> &'static str {
        "powershell"
    }

    async fn health(&self) -> Result<String, BackendError> {
        {
            let starts = self.starts();
            if starts.failures_in_a_row >= FAILURES_BEFORE_UNAVAILABLE
                && starts.next_attempt.is_some_and(|at| Instant::now() < at)
            {
                return Err(BackendError::Unavailable(format!(
                    "the Lync shell could not be started {} times in a row: {}",
                    starts.failures_in_a_row,
                    starts.last_error.as_deref().unwrap_or("no reason given")
                )));
            }
        }
        // Answers by itself, starting a worker if none runs (this is how it recovers).
        self.ask(&Call::Ping).await?;
        Ok(format!(
            "{} worker(s), protocol 1: {}",
            self.slots.len(),
            self.starts().detail
        ))
    }

    async fn run(&self, cmdlet: &Cmdlet) -> Result<CmdletOutput, BackendError> {
        let output = self.ask(&Call::Run(cmdlet.clone())).await?;
        Ok(CmdletOutput {
            text: match output {
                serde_json::Value::Null => String::new(),
                serde_json::Value::String(text) => text,
                other => other.to_string(),
            },
        })
    }

    async fn read_lync_only(&self, identity: &str) -> Result<LyncOnly, BackendError> {
        let read = |read: Read| Call::Read {
            read,
            identity: identity.to_owned(),
        };
        let unreadable = |what: &str, e: serde_json::Error| {
            BackendError::Unavailable(format!("the worker's {what} answer could not be read: {e}"))
        };
        let user = match self.ask(&read(Read::GetCsUser)).await {
            Ok(output) if output.is_null() => None,
            Ok(output) => Some(
                serde_json::from_value::<ShellUser>(output)
                    .map_err(|e| unreadable("Get-CsUser", e))?,
            ),
            Err(BackendError::CommandFailed { message, .. }) if message.contains("not found") => {
                None
            }
            Err(error) => return Err(error),
        };
        let certificates = match self.ask(&read(Read::GetCsClientCertificate)).await? {
            serde_json::Value::Null => Vec::new(),
            output => serde_json::from_value::<Vec<ShellCertificate>>(output)
                .map_err(|e| unreadable("Get-CsClientCertificate", e))?
                .into_iter()
                .map(Into::into)
                .collect(),
        };
        Ok(LyncOnly {
            certificates,
            policies: user.map(|u| u.policies()),
        })
    }
}
