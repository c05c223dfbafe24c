//! deprov's server: a thin axum layer over one Lync deployment (a [`backend::DirectorySource`]
//! and, when configured, a [`backend::LyncShell`]), serving the JSON API, server-sent events and
//! the built WASM front end from one port.
//!
//! - [`backend`]: the seams to a deployment, the embedded simulator, and AD over LDAP.
//! - [`directory`]: the portal's live copy of the directory, and search over it.
//! - [`predict`]: what each de-provisioning method would do to a user right now.
//! - [`report`]: the live mismatch report.
//! - [`people`], [`workflow`], [`audit`]: sign-in and roles, requests and approvals, the audit trail.
//! - [`execution`]: running approved requests against Lync, stage by stage, crash-safe.
//! - [`notify`]: events in an outbox, delivered by mail and webhooks.
//! - [`store`]: the portal's own state, in SQLite or PostgreSQL (several instances), and the
//!   change feed that keeps instances' live streams in step.
//! - [`http`]: routes, the error type, the front end.
//! - [`config`]: `deprov serve`'s settings.

pub mod audit;
pub mod backend;
pub mod config;
pub mod demo;
pub mod directory;
pub mod execution;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod http;
pub mod notify;
pub mod people;
pub mod predict;
pub mod report;
pub mod store;
pub mod timing;
pub mod workflow;

use backend::Deployment;
use backend::sim::{SimClock, SimConfig, Simulator};
use config::{Backend, ServeConfig};
use directory::Directory;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// A portal ready to serve.
pub struct Portal {
    pub state: http::AppState,
    config: ServeConfig,
    stopping: tokio::sync::watch::Sender<bool>,
}

/// Why the portal could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("the first read of the directory failed: {0}")]
    Backend(#[from] backend::BackendError),
    #[error("cannot open the database: {0}")]
    Store(#[from] store::StoreError),
    #[error("cannot set up the demo accounts: {0}")]
    Demo(String),
    #[error("cannot read the requests: {0}")]
    Workflow(String),
    #[error("cannot settle the operations a restart cut off: {0}")]
    Recovery(String),
    #[error("{0}")]
    Config(String),
}

impl Portal {
    /// Sets up storage and the deployment `config` names (the simulator by default, or AD over
    /// LDAP) and reads the directory.
    pub async fn start(config: ServeConfig) -> Result<Self, StartError> {
        let shell = config
            .shell
            .config(std::time::Duration::from_secs(config.step_timeout_secs))
            .map_err(StartError::Config)?;
        let deployment = match config.backend {
            Backend::Sim if shell.is_some() => {
                return Err(StartError::Config(
                    "--lync-shell needs --backend lync: the simulator is its own shell".to_owned(),
                ));
            }
            Backend::Sim => {
                let clock = SimClock::running(time::OffsetDateTime::now_utc());
                Deployment::simulated(Arc::new(Simulator::new(
                    &SimConfig {
                        users: config.sim_users,
                        seed: config.sim_seed,
                    },
                    clock,
                )))
            }
            Backend::Lync => {
                let settings = config.ldap.settings().map_err(StartError::Config)?;
                let directory = Arc::new(backend::ldap::LdapDirectory::new(settings));
                match shell {
                    None => Deployment::read_only(directory),
                    Some(shell) => {
                        let pool = Arc::new(backend::shell::ShellPool::new(shell));
                        tokio::spawn(keep_shell_alive(Arc::downgrade(&pool)));
                        Deployment {
                            directory,
                            shell: Some(pool),
                            simulator: None,
                        }
                    }
                }
            }
        };
        Self::start_with(config, deployment).await
    }

    /// As [`Portal::start`], on a deployment that already exists: tests restart the portal on the
    /// same deployment, as a real restart would find Lync as it left it.
    pub async fn start_with(
        config: ServeConfig,
        deployment: Deployment,
    ) -> Result<Self, StartError> {
        // Settings first: a mistake in them is reported before anything else happens.
        let ad_sign_in = match config.sign_in.role_groups().map_err(StartError::Config)? {
            None => None,
            Some(groups) => {
                let settings = config.ldap.settings().map_err(|why| {
                    StartError::Config(format!("--ldap-sign-in on needs the AD connection: {why}"))
                })?;
                Some(people::ad::AdSignIn::new(settings, groups))
            }
        };
        store::create_data_dir(&config.data_dir).map_err(|source| StartError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let source = Arc::clone(&deployment.directory);
        let database = config
            .database
            .database(&config.data_dir)
            .map_err(StartError::Config)?;
        let store = store::Store::connect(&database, &config.audit_key_file()).await?;
        let dispatcher = config
            .notify
            .dispatcher(store.clone(), config.listen, &config.lease().holder)
            .map_err(StartError::Config)?;
        if config.demo_accounts == "on" {
            demo::seed_accounts(&store, &config.data_dir)
                .await
                .map_err(|e| StartError::Demo(e.to_string()))?;
        }
        let directory = Directory::start(Arc::clone(&source), deployment.shell.clone()).await?;

        if let Some(simulator) = deployment
            .simulator
            .as_ref()
            .filter(|_| config.sim_churn == "on")
        {
            let churn = backend::sim::churn::run(
                Arc::downgrade(simulator),
                std::time::Duration::from_secs(4),
                config.sim_seed,
            );
            tokio::spawn(churn);
        }
        let lync_clock: workflow::LyncClock = {
            let source = Arc::clone(&source);
            Arc::new(move || source.now())
        };
        let workflow =
            workflow::Workflow::start(store.clone(), config.workflow(), Arc::clone(&lync_clock))
                .await
                .map_err(|e| StartError::Workflow(e.to_string()))?;
        let executor = execution::Executor::new(
            store.clone(),
            &deployment,
            workflow.clone(),
            directory.clone(),
            std::time::Duration::from_secs(config.step_timeout_secs),
        )
        .leasing(config.lease());
        // Before serving: an operation a crash cut off is settled, never left "running".
        executor
            .recover()
            .await
            .map_err(|e| StartError::Recovery(e.to_string()))?;
        let exceptions =
            report::exceptions::Exceptions::start(store.clone(), Arc::clone(&lync_clock)).await?;
        let report = report::engine::ReportHub::start(
            directory.clone(),
            Arc::clone(&source),
            config.report(),
            store.clone(),
            workflow.open_requests(),
            exceptions.subscribe(),
        )
        .await?;
        tokio::spawn(follow_other_instances(
            store.clone(),
            executor.clone(),
            workflow.clone(),
            exceptions.clone(),
        ));
        let jobs = Jobs {
            store: store.clone(),
            holder: config.lease().holder,
        };
        tokio::spawn(expire_requests(workflow.clone(), jobs.clone()));
        tokio::spawn(execution_housekeeping(
            executor.clone(),
            jobs.clone(),
            config.lease().lasts,
        ));
        tokio::spawn(verify_steps(executor.clone(), jobs));
        tokio::spawn(Arc::new(dispatcher).run());
        let ad_sign_in_on = ad_sign_in.is_some();
        let people = http::People {
            authenticator: Arc::new(people::SignInMethods {
                local: people::accounts::LocalAccounts {
                    store: store.clone(),
                },
                ad: ad_sign_in,
            }),
            sessions: people::sessions::SessionPolicy::default(),
            throttle: Arc::new(people::throttle::Throttle::new(store.clone())),
            secure_cookies: config.secure_cookies,
            ad_sign_in: ad_sign_in_on,
        };
        let (stopping, shutdown) = tokio::sync::watch::channel(false);
        let state = http::AppState {
            deployment,
            directory,
            report,
            exceptions,
            store,
            workflow,
            executor,
            people,
            shutdown,
        };
        Ok(Self {
            state,
            config,
            stopping,
        })
    }

    pub fn router(&self) -> axum::Router {
        http::app(self.state.clone(), &self.config.static_dir)
    }

    /// Serves on `listener` until `shutdown` resolves, with the limits against slow and greedy
    /// clients ([`http::listen`]).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = self.router();
        let limits = http::listen::Limits {
            per_address: self.config.connections_per_address,
            ..http::listen::Limits::default()
        };
        let stopping = self.stopping;
        let signal = async move {
            shutdown.await;
            // Ends the event streams first, or graceful shutdown would wait on every open report page.
            stopping.send_replace(true);
        };
        http::listen::serve(listener, router, limits, signal).await
    }
}

/// Pings idle shell workers now and then (Windows closes idle remote shells after 15 minutes);
/// ends with the pool.
async fn keep_shell_alive(pool: std::sync::Weak<backend::shell::ShellPool>) {
    let mut tick = tokio::time::interval(backend::shell::KEEPALIVE);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        pool.keep_alive().await;
    }
}

/// The periodic jobs' leases: each job runs on the one instance holding its lease.
#[derive(Clone)]
struct Jobs {
    store: store::Store,
    holder: Arc<str>,
}

impl Jobs {
    /// Whether this instance runs `job` now, run every `every`: it holds the lease for three
    /// periods, so a missed tick does not hand the job over, a dead instance does.
    async fn mine(&self, job: &str, every: std::time::Duration) -> bool {
        let lasts = time::Duration::try_from(every * 3).unwrap_or(time::Duration::MINUTE);
        match self.store.take_job(job, &self.holder, lasts).await {
            Ok(mine) => mine,
            Err(error) => {
                tracing::warn!(job, %error, "could not take a periodic job's lease; skipping this run");
                false
            }
        }
    }
}

/// Every 10 s: expires requests pending past the limit, and announces overdue requests and stage 2
/// falling due (the simulator's clock can jump a month ahead).
async fn expire_requests(workflow: workflow::Workflow, jobs: Jobs) {
    let every = std::time::Duration::from_secs(10);
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if !jobs.mine("expire_requests", every).await {
            continue;
        }
        match workflow.expire_due().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "expired requests pending past the limit"),
            Err(error) => tracing::warn!(%error, "could not expire requests"),
        }
        if let Err(error) = workflow.announce_due().await {
            tracing::warn!(%error, "could not look for overdue requests and stage 2 falling due");
        }
    }
}

/// Every 2 s: checks the steps whose effect should show by now.
async fn verify_steps(executor: execution::Executor, jobs: Jobs) {
    let every = std::time::Duration::from_secs(2);
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        if !jobs.mine("verify_steps", every).await {
            continue;
        }
        if let Err(error) = executor.verify_due().await {
            tracing::warn!(%error, "could not verify steps");
        }
    }
}

/// Keeps this instance's live streams current with what other instances change in a shared
/// database (PostgreSQL): a request's followers hear of it, and the open requests and accepted
/// exceptions the report reads are re-read (once per burst of changes). Nothing on SQLite.
async fn follow_other_instances(
    store: store::Store,
    executor: execution::Executor,
    workflow: workflow::Workflow,
    exceptions: report::exceptions::Exceptions,
) {
    use store::changes::Change;
    if store.dialect() != store::Dialect::Postgres {
        return;
    }
    let (open_stale, exceptions_stale) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    tokio::spawn(refresh_on(Arc::clone(&open_stale), move || {
        let workflow = workflow.clone();
        async move { workflow.refresh_open().await.map_err(|e| e.to_string()) }
    }));
    tokio::spawn(refresh_on(Arc::clone(&exceptions_stale), move || {
        let exceptions = exceptions.clone();
        async move { exceptions.refresh().await.map_err(|e| e.to_string()) }
    }));
    store::changes::follow(store, move |change| match change {
        Change::Request(id) => {
            executor.changed_elsewhere(id);
            open_stale.notify_one();
        }
        Change::Exceptions => exceptions_stale.notify_one(),
        Change::Anything => {
            executor.changed_elsewhere(execution::EVERY_REQUEST);
            open_stale.notify_one();
            exceptions_stale.notify_one();
        }
    })
    .await;
}

/// Runs `refresh` each time `stale` is notified; notifications while it runs make one more run.
async fn refresh_on<F, R>(stale: Arc<Notify>, refresh: F)
where
    F: Fn() -> R,
    R: Future<Output = Result<(), String>>,
{
    loop {
        stale.notified().await;
        if let Err(e) = refresh().await {
            tracing::warn!(error = %e, "re-reading what another instance changed failed");
        }
    }
}

/// Every half lease (at most 15 s): settles operations whose driver stopped (a storage error, or
/// another instance that died), and runs stage 2 of requests whose grace period is over when an
/// admin has turned that on.
async fn execution_housekeeping(
    executor: execution::Executor,
    jobs: Jobs,
    lease: std::time::Duration,
) {
    // Often enough that another instance's lapsed lease is taken over within half a lease.
    let every = (lease / 2).min(std::time::Duration::from_secs(15));
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        // Every instance settles: leases decide whose operations are whose.
        if let Err(error) = executor.recover().await {
            tracing::warn!(%error, "could not settle stopped operations");
        }
        if !jobs.mine("auto_stage_two", every).await {
            continue;
        }
        match executor.run_due_stage_two().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(ran = n, "ran stage 2 automatically"),
            Err(error) => tracing::warn!(%error, "automatic stage 2 failed"),
        }
    }
}
