//! One worker process: started from the operator's argv in a process group of its own, greeted,
//! then asked one call at a time. Anything that breaks the protocol (a reply for another id, a
//! line over the size limit or not UTF-8, the end of its output, no answer by the deadline) ends
//! it: the whole process group is killed, and the call in flight has an unknown outcome.

use super::protocol::{Call, HELLO, Hello, PROTOCOL, Reply};
use futures_util::StreamExt;
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};

/// The longest line a worker may write (a projected answer is a few KB).
pub const MAX_LINE: usize = 4 * 1024 * 1024;

/// How to start a worker.
#[derive(Clone)]
pub struct Launch {
    pub argv: Vec<String>,
    /// Sent as the first line, for a worker that opens a remote session (never logged).
    pub credential: Option<(String, crate::backend::ldap::settings::Secret)>,
    pub handshake: Duration,
}

/// Why a worker could not be used. `Broken` after a call was written means its outcome is unknown.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WorkerError {
    #[error("{0}")]
    Broken(String),
    #[error("no answer within {} s", .0.as_secs())]
    Deadline(Duration),
}

pub struct Worker {
    /// Which worker of the pool this is, for the log.
    pub slot: usize,
    child: Child,
    stdin: ChildStdin,
    lines: FramedRead<ChildStdout, LinesCodec>,
    next_id: u64,
    pub detail: String,
}

impl Worker {
    /// Starts the process and waits for its hello.
    pub async fn start(launch: &Launch, slot: usize) -> Result<Self, String> {
        let (program, arguments) = launch
            .argv
            .split_first()
            .ok_or("--lync-shell is an empty list: give the argv that starts one worker")?;
        let mut child = Command::new(program)
            .args(arguments)
            // The portal's database credentials are none of the worker's business.
            .env_remove("DEPROV_DATABASE")
            .env_remove("PGPASSWORD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so ending it ends whatever it started (ssh, powershell).
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {program}: {e}"))?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(target: "lync_shell", slot, "worker: {line}");
            }
        });
        let mut worker = Self {
            slot,
            child,
            stdin,
            lines: FramedRead::new(stdout, LinesCodec::new_with_max_length(MAX_LINE)),
            next_id: 0,
            detail: String::new(),
        };
        if let Some((user, password)) = &launch.credential {
            let line = serde_json::json!({ "credential": { "user": user, "password": password.expose() } });
            if let Err(error) = worker.write(&line.to_string()).await {
                worker.kill().await;
                return Err(format!("the worker would not take its credential: {error}"));
            }
        }
        let hello = tokio::time::timeout(launch.handshake, worker.hello()).await;
        match hello {
            Ok(Ok(hello)) if hello.ready => {
                worker.detail = hello.detail;
                Ok(worker)
            }
            outcome => {
                worker.kill().await;
                Err(match outcome {
                    Ok(Ok(hello)) => format!("the worker could not start: {}", hello.detail),
                    Ok(Err(why)) => why,
                    Err(_) => format!(
                        "no hello from the worker within {} s",
                        launch.handshake.as_secs()
                    ),
                })
            }
        }
    }

    async fn hello(&mut self) -> Result<Hello, String> {
        loop {
            let line = self.line().await.map_err(|e| e.to_string())?;
            match serde_json::from_str::<Value>(&line) {
                Ok(value @ Value::Object(_)) => {
                    let hello: Hello = serde_json::from_value(value)
                        .map_err(|e| format!("the worker's first message is not a hello: {e}"))?;
                    if hello.hello != HELLO || hello.protocol != PROTOCOL {
                        return Err(format!(
                            "the worker speaks '{}' protocol {}, not {HELLO} protocol {PROTOCOL}",
                            hello.hello, hello.protocol
                        ));
                    }
                    return Ok(hello);
                }
                _ => self.stray(&line),
            }
        }
    }

    /// A line that is not a protocol message: logged and skipped.
    fn stray(&self, line: &str) {
        let shown: String = line.chars().take(200).collect();
        tracing::info!(target: "lync_shell", slot = self.slot, "worker printed (not a message): {shown}");
    }

    async fn line(&mut self) -> Result<String, WorkerError> {
        match self.lines.next().await {
            Some(Ok(line)) => Ok(line),
            Some(Err(LinesCodecError::MaxLineLengthExceeded)) => Err(WorkerError::Broken(format!(
                "the worker wrote a line over {} MiB",
                MAX_LINE / (1024 * 1024)
            ))),
            Some(Err(LinesCodecError::Io(error)))
                if error.kind() == std::io::ErrorKind::InvalidData =>
            {
                Err(WorkerError::Broken(
                    "the worker wrote a line that is not UTF-8".to_owned(),
                ))
            }
            Some(Err(LinesCodecError::Io(error))) => Err(WorkerError::Broken(format!(
                "reading the worker's output failed: {error}"
            ))),
            None => Err(WorkerError::Broken(
                "the worker's output ended (it exited)".to_owned(),
            )),
        }
    }

    async fn write(&mut self, line: &str) -> Result<(), WorkerError> {
        let mut bytes = line.as_bytes().to_vec();
        bytes.push(b'\n');
        self.stdin
            .write_all(&bytes)
            .await
            .map_err(|e| WorkerError::Broken(format!("writing to the worker failed: {e}")))?;
        self.stdin
            .flush()
            .await
            .map_err(|e| WorkerError::Broken(format!("writing to the worker failed: {e}")))
    }

    /// One call and its reply, within `deadline`. Any error leaves the worker unusable: the
    /// caller kills it.
    pub async fn call(&mut self, call: &Call, deadline: Duration) -> Result<Reply, WorkerError> {
        self.next_id += 1;
        let id = self.next_id;
        self.write(&call.request(id)).await?;
        tokio::time::timeout(deadline, self.reply(id))
            .await
            .unwrap_or(Err(WorkerError::Deadline(deadline)))
    }

    async fn reply(&mut self, id: u64) -> Result<Reply, WorkerError> {
        loop {
            let line = self.line().await?;
            let value = match serde_json::from_str::<Value>(&line) {
                Ok(value @ Value::Object(_)) => value,
                _ => {
                    self.stray(&line);
                    continue;
                }
            };
            let reply: Reply = serde_json::from_value(value).map_err(|e| {
                WorkerError::Broken(format!("the worker's answer is not a protocol reply: {e}"))
            })?;
            if reply.id != id {
                return Err(WorkerError::Broken(format!(
                    "the worker answered id {} while deprov waited for {id}",
                    reply.id
                )));
            }
            return Ok(reply);
        }
    }

    /// Kills the worker's whole process group and reaps it.
    pub async fn kill(&mut self) {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) with a negative pid signals the process group the worker leads
            // (it was started with process_group(0)); no memory is touched.
            #[allow(unsafe_code)]
            unsafe {
                libc::kill(-(pid as i32), libc::SIGKILL);
            }
        }
        let _ = self.child.kill().await;
    }
}
