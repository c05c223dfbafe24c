//! The one seam between the portal and a Lync deployment: the [`LyncBackend`] trait.
//!
//! Today the embedded [`sim::Simulator`] implements it. A PowerShell worker (the Lync Management
//! Shell, cmdlets passed as data) and an LDAP reader (AD over paged search and `uSNChanged`)
//! will implement the same trait, which is why every call is async and fallible, with transport
//! failures, timeouts and partial results in [`BackendError`] from the start.

pub mod sim;

use async_trait::async_trait;
use deprov_wire::cmdlet::Cmdlet;
use deprov_wire::directory::{DirectoryUser, UserId};
use std::time::Duration;
use time::OffsetDateTime;

/// AD's `uSNChanged` high-water mark: a read "since" it returns only what changed after it.
pub type Usn = u64;

/// Why a backend call did not give a full answer.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum BackendError {
    /// The deployment could not be reached (network, session broken, LDAP bind failed).
    #[error("the Lync backend could not be reached: {0}")]
    Unavailable(String),
    /// No answer in time: the outcome of a write is unknown and must be read back, not repeated.
    #[error("the Lync backend did not answer within {} s", .0.as_secs())]
    Timeout(Duration),
    #[error("no user {0} in the directory")]
    UserNotFound(String),
    /// The shell ran the cmdlet and it failed: nothing changed.
    #[error("{cmdlet} failed: {message}")]
    CommandFailed {
        cmdlet: &'static str,
        message: String,
    },
    /// Part of a read succeeded (a paged search cut off): what came is usable but not complete.
    #[error("incomplete read after {read} entries: {message}")]
    Partial { read: usize, message: String },
}

/// A read of the directory: everything (`since: None`) or what changed after a high-water mark.
#[derive(Debug, Clone)]
pub struct DirectoryRead {
    pub users: Vec<DirectoryUser>,
    /// Pass this as `since` next time.
    pub high_water: Usn,
}

/// What a cmdlet printed, for the person watching it run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdletOutput {
    pub text: String,
}

/// A Lync deployment (AD plus the Lync Management Shell), as the portal sees it.
#[async_trait]
pub trait LyncBackend: Send + Sync + 'static {
    /// A short name for health checks and logs ("simulator", "powershell", "ldap").
    fn name(&self) -> &'static str;

    /// The deployment's clock. Real backends return the system time; the simulator's can be advanced.
    fn now(&self) -> OffsetDateTime;

    /// A cheap liveness probe; `Ok` carries the backend's own word on its state.
    async fn health(&self) -> Result<String, BackendError>;

    /// The whole directory (`since: None`) or only entries changed after `since`.
    async fn read_directory(&self, since: Option<Usn>) -> Result<DirectoryRead, BackendError>;

    /// One user, read fresh (not from any cache).
    async fn read_user(&self, id: UserId) -> Result<DirectoryUser, BackendError>;

    /// Runs one cmdlet, its values passed as data.
    async fn run(&self, cmdlet: &Cmdlet) -> Result<CmdletOutput, BackendError>;

    /// Resolves when the directory may have changed: at once on a push (the simulator), or after
    /// a poll interval (LDAP has no push); at once if something changed after `since`.
    async fn changed(&self, since: Usn);
}
