//! The seams between the portal and a Lync deployment, split the way Lync itself is built:
//!
//! - a [`DirectorySource`] reads AD and its `msRTCSIP-*` attributes: the whole directory fast,
//!   then what changed (`uSNChanged`). [`ldap::LdapDirectory`] reads a real AD over LDAP.
//! - a [`LyncShell`] runs cmdlets, values passed as data (the Lync Management Shell).
//!
//! The embedded [`sim::Simulator`] implements both, and also knows what only the Lync server
//! knows (certificates, signed-in sessions, contacts); over LDAP alone those are
//! [`Fact::Unknown`](deprov_wire::directory::Fact). Every call is async and fallible, with
//! transport failures, timeouts and partial reads in [`BackendError`].

pub mod ldap;
pub mod shell;
pub mod sim;

use async_trait::async_trait;
use deprov_wire::cmdlet::Cmdlet;
use deprov_wire::directory::{ClientCertificate, DirectoryUser, PolicyAssignment, UserId};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// Why a backend call did not give a full answer.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum BackendError {
    /// The deployment could not be reached (network, session broken, LDAP bind failed); the
    /// text says which part and why.
    #[error("{0}")]
    Unavailable(String),
    /// No answer in time: the outcome of a write is unknown and must be read back, not repeated.
    #[error("the Lync backend did not answer within {} s", .0.as_secs())]
    Timeout(Duration),
    /// The shell ended during the call (it died, or broke the protocol): the outcome is unknown,
    /// as after a timeout.
    #[error("the Lync shell worker ended during the call ({0}): whether it took effect is unknown")]
    Lost(String),
    #[error("no user {0} in the directory")]
    UserNotFound(String),
    /// The shell ran the cmdlet and it failed: nothing changed.
    #[error("{cmdlet} failed: {message}")]
    CommandFailed {
        cmdlet: &'static str,
        message: String,
    },
    /// Part of a read succeeded (a paged search cut off): what came is not complete and is
    /// not used; the portal keeps its last good copy.
    #[error("incomplete read after {read} entries: {message}")]
    Partial { read: usize, message: String },
}

/// AD's `uSNChanged` high-water mark, and the domain controller it belongs to: USNs are per DC,
/// so a mark from another DC (after a failover) means nothing and everything is read again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watermark {
    /// The DC's identity (its `dsServiceName`), or the simulator's name.
    pub server: Arc<str>,
    pub usn: u64,
}

impl Watermark {
    pub fn new(server: impl Into<Arc<str>>, usn: u64) -> Self {
        Self {
            server: server.into(),
            usn,
        }
    }
}

/// What a directory read returned.
#[derive(Debug, Clone)]
pub enum DirectoryRead {
    /// Every user there is: anyone not in it is gone.
    Full {
        users: Vec<DirectoryUser>,
        high_water: Watermark,
    },
    /// Only what changed after the mark passed in, and who was deleted meanwhile.
    Changes {
        users: Vec<DirectoryUser>,
        deleted: Vec<UserId>,
        high_water: Watermark,
    },
}

impl DirectoryRead {
    pub fn high_water(&self) -> &Watermark {
        match self {
            Self::Full { high_water, .. } | Self::Changes { high_water, .. } => high_water,
        }
    }

    pub fn users(&self) -> &[DirectoryUser] {
        match self {
            Self::Full { users, .. } | Self::Changes { users, .. } => users,
        }
    }

    pub fn users_mut(&mut self) -> &mut [DirectoryUser] {
        match self {
            Self::Full { users, .. } | Self::Changes { users, .. } => users,
        }
    }
}

/// What a cmdlet printed, for the person watching it run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdletOutput {
    pub text: String,
}

/// What only the Lync server knows of one user, read through the shell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LyncOnly {
    /// Get-CsClientCertificate: the client certificates issued to the user.
    pub certificates: Vec<ClientCertificate>,
    /// Get-CsUser's policy assignments; `None` when Lync does not know the user.
    pub policies: Option<Vec<PolicyAssignment>>,
}

/// Where the portal reads users from: AD and its `msRTCSIP-*` attributes.
#[async_trait]
pub trait DirectorySource: Send + Sync + 'static {
    /// A short name for health checks and logs ("simulator", "ldap").
    fn name(&self) -> &'static str;

    /// The deployment's clock. Real sources return the system time; the simulator's can be advanced.
    fn now(&self) -> OffsetDateTime;

    /// A cheap liveness probe; `Ok` carries the source's own word on its state.
    async fn health(&self) -> Result<String, BackendError>;

    /// The whole directory (`since: None`, or a mark the source cannot continue from), or only
    /// what changed after `since`.
    async fn read_directory(
        &self,
        since: Option<&Watermark>,
    ) -> Result<DirectoryRead, BackendError>;

    /// One user, read fresh (not from any cache).
    async fn read_user(&self, id: UserId) -> Result<DirectoryUser, BackendError>;

    /// Resolves when the directory may have changed after `since`: at once on a push (the
    /// simulator), or after a poll interval (LDAP has no push).
    async fn changed(&self, since: &Watermark);
}

/// The Lync Management Shell: runs cmdlets, their values passed as data.
#[async_trait]
pub trait LyncShell: Send + Sync + 'static {
    /// A short name for health checks and logs ("simulator", "powershell").
    fn name(&self) -> &'static str;

    /// A cheap liveness probe; `Ok` carries the shell's own word on its state.
    async fn health(&self) -> Result<String, BackendError>;

    /// Runs one cmdlet, its values passed as data.
    async fn run(&self, cmdlet: &Cmdlet) -> Result<CmdletOutput, BackendError>;

    /// What AD does not hold about the user with this `-Identity`: certificates and policies.
    async fn read_lync_only(&self, identity: &str) -> Result<LyncOnly, BackendError>;
}

/// One Lync deployment as the portal reaches it: a directory source, and a shell when one is
/// configured (without one, deprov is read-only).
#[derive(Clone)]
pub struct Deployment {
    pub directory: Arc<dyn DirectorySource>,
    pub shell: Option<Arc<dyn LyncShell>>,
    /// The embedded simulator, when it is the deployment: its demo controls.
    pub simulator: Option<Arc<sim::Simulator>>,
}

impl Deployment {
    /// The embedded simulator as directory and shell.
    pub fn simulated(simulator: Arc<sim::Simulator>) -> Self {
        Self {
            directory: simulator.clone(),
            shell: Some(simulator.clone()),
            simulator: Some(simulator),
        }
    }

    /// A real directory with no shell: read-only.
    pub fn read_only(directory: Arc<dyn DirectorySource>) -> Self {
        Self {
            directory,
            shell: None,
            simulator: None,
        }
    }
}
