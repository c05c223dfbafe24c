//! The tests' SMTP server: `tests/fixtures/smtp-sink.py` on aiosmtpd (scripts/test.sh installs it
//! and says where in `DEPROV_TEST_SMTP_PYTHON`), one per test, on a loopback port of its own,
//! stopped by PID when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One mail as the server stored it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Mail {
    pub rcpt_tos: Vec<String>,
    pub subject: String,
    pub message_id: String,
    pub body: String,
}

impl Mail {
    /// The links in the body.
    pub fn links(&self) -> Vec<String> {
        self.body
            .split_whitespace()
            .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
            .map(|w| w.trim_end_matches(['.', ',', ')']).to_owned())
            .collect()
    }
}

pub struct SmtpSink {
    child: Child,
    pub port: u16,
    dir: PathBuf,
}

impl SmtpSink {
    /// A sink storing into `dir`, on `port` (0: any free one), waiting `delay` before accepting
    /// each message's data.
    pub fn start(dir: &Path, port: u16, delay: Duration) -> Self {
        let python =
            std::env::var("DEPROV_TEST_SMTP_PYTHON").unwrap_or_else(|_| installed_python());
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/smtp-sink.py");
        let mut child = Command::new(&python)
            .arg(script)
            .arg("--dir")
            .arg(dir)
            .args(["--port", &port.to_string()])
            .args(["--delay-data", &delay.as_secs_f64().to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the SMTP sink with {python}: {e} (scripts/test.sh installs aiosmtpd)"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "the SMTP sink did not start (is aiosmtpd installed for {python}?): {line:?}"
                )
            });
        Self {
            child,
            port,
            dir: dir.to_owned(),
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every mail stored so far.
    pub fn mails(&self) -> Vec<Mail> {
        mails_in(&self.dir)
    }

    /// Whether a message's data is being received right now.
    pub fn receiving(&self) -> bool {
        std::fs::read_dir(&self.dir).unwrap().any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("receiving-")
        })
    }

    /// Waits until `done` holds for the mails stored, or panics saying `what` after `timeout`.
    pub async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[Mail]) -> bool,
    ) -> Vec<Mail> {
        let start = Instant::now();
        loop {
            let mails = self.mails();
            if done(&mails) {
                return mails;
            }
            assert!(
                start.elapsed() < timeout,
                "{what}: not within {timeout:?}; the mails: {:#?}",
                mails
                    .iter()
                    .map(|m| (&m.rcpt_tos, &m.subject))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The Python of the aiosmtpd virtualenv scripts/setup.sh installs (`aiosmtpd-VERSION` in the
/// tools folder), for a `cargo test` or `cargo bench` run outside scripts/test.sh.
fn installed_python() -> String {
    let tools = std::env::var("DEPROV_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/deprov-tools")
        });
    std::fs::read_dir(&tools)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("aiosmtpd-"))
        })
        .map(|path| path.join("bin/python"))
        .find(|python| python.exists())
        .map_or_else(|| "python3".to_owned(), |p| p.display().to_string())
}

/// The mails stored in `dir`.
pub fn mails_in(dir: &Path) -> Vec<Mail> {
    let mut mails: Vec<Mail> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let path = e.unwrap().path();
            (path.extension()? == "json").then_some(path)
        })
        .map(|path| serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap())
        .collect();
    mails.sort_by(|a: &Mail, b: &Mail| a.message_id.cmp(&b.message_id));
    mails
}

/// Mails to `address`.
pub fn to<'a>(mails: &'a [Mail], address: &str) -> Vec<&'a Mail> {
    mails
        .iter()
        .filter(|m| m.rcpt_tos.iter().any(|r| r.eq_ignore_ascii_case(address)))
        .collect()
}
