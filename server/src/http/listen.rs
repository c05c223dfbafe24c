//! Accepting connections: what `axum::serve` does, plus what a portal on a network needs against
//! slow or greedy clients. A request's headers must arrive within [`Limits::header_timeout`] (a
//! client that sends half a header cannot hold a connection for ever); one client address may hold
//! at most [`Limits::per_address`] connections, and everyone together [`Limits::total`], so one
//! client cannot use up the file descriptors the health check needs. Shutdown is graceful:
//! connections finish their requests (and event streams end, by the portal's stopping signal).

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

/// How long open connections may take to finish after shutdown was asked for.
const GRACE: Duration = Duration::from_secs(10);

/// What one server allows.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub per_address: usize,
    pub total: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            per_address: 128,
            total: open_file_budget(),
        }
    }
}

/// Connections the process can hold: the soft limit on open files, raised to the hard limit
/// (the usual soft limit of 1,024 is low for a server), less room for the database, logs and
/// the Lync shell's pipes.
fn open_file_budget() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the one struct passed; no other memory.
    #[allow(unsafe_code)]
    let soft = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 900;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max.min(65_536),
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = raised.rlim_cur;
            }
        }
        limit.rlim_cur
    };
    (soft as usize).saturating_sub(124).clamp(64, 60_000)
}

/// Connections per client address, released when a connection ends.
struct PerAddress {
    open: Mutex<HashMap<IpAddr, usize>>,
    limit: usize,
}

struct Slot {
    counts: Arc<PerAddress>,
    address: IpAddr,
}

impl PerAddress {
    fn take(counts: &Arc<Self>, address: IpAddr) -> Option<Slot> {
        let mut open = counts.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(address).or_default();
        if *count >= counts.limit {
            return None;
        }
        *count += 1;
        Some(Slot {
            counts: Arc::clone(counts),
            address,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.counts.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets connections finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let total = Arc::new(Semaphore::new(limits.total));
    let per_address = Arc::new(PerAddress {
        open: Mutex::default(),
        limit: limits.per_address,
    });
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, remote): (_, SocketAddr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait a moment rather than spin.
                    tracing::warn!(%error, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Over a limit: closed at once, before anything is read from it.
        let Ok(permit) = Arc::clone(&total).try_acquire_owned() else {
            tracing::warn!(client = %remote.ip(), "connection refused: the server holds its most connections");
            continue;
        };
        let Some(slot) = PerAddress::take(&per_address, remote.ip()) else {
            tracing::warn!(client = %remote.ip(), "connection refused: too many from one address");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(remote));
            router.clone().oneshot(request.map(Body::new))
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
            drop((permit, slot));
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(GRACE) => {
            tracing::warn!("some connections did not finish within {} s of shutdown", GRACE.as_secs());
        }
    }
    Ok(())
}
