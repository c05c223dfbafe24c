//! The test kit: a real deprov server on port 0 with its own data folder, an HTTP client for it,
//! and a headless Chromium driven over WebDriver.

pub mod database;
pub mod dc;
pub mod smtp;

use deprov_server::Portal;
use deprov_server::backend::sim::Simulator;
use deprov_server::config::ServeConfig;
use deprov_server::people::accounts;
use deprov_wire::people::Role;
use fantoccini::{Client, ClientBuilder, Locator};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The built front end: scripts/test.sh runs Trunk before the tests.
pub fn dist_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist")
}

/// The `deprov` binary next to the test binary (scripts/test.sh builds it first).
pub fn deprov_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(std::path::Path::parent).unwrap();
    let binary = dir.join("deprov");
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build -p deprov-server` first",
        binary.display()
    );
    binary
}

/// The password of every test account.
pub const PASSWORD: &str = "correct horse battery staple";

/// The accounts every test portal has: one per role, a second approver, and one with every role.
pub const PEOPLE: [(&str, &[Role]); 6] = [
    ("manager", &[Role::Requester]),
    ("approver", &[Role::Approver]),
    ("approver2", &[Role::Approver]),
    ("admin", &[Role::Admin]),
    ("auditor", &[Role::Auditor]),
    (
        "everyone",
        &[Role::Requester, Role::Approver, Role::Admin, Role::Auditor],
    ),
];

/// Where a test account is mailed.
pub fn mail_address(name: &str) -> String {
    format!("{name}@test.example")
}

/// A running portal (on the simulator, or on a real AD). Stops when dropped.
pub struct TestPortal {
    pub base: String,
    /// The simulator, when it is the deployment.
    sim: Option<Arc<Simulator>>,
    pub store: deprov_server::store::Store,
    /// A client with no session.
    pub http: reqwest::Client,
    /// Signed in with every role: for tests about something else than permissions.
    pub everyone: Person,
    _data: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
}

/// A signed-in person: a cookie-keeping client and the session's CSRF token.
pub struct Person {
    pub name: String,
    pub http: reqwest::Client,
    pub csrf: String,
    base: String,
}

impl Person {
    /// GETs `path`; the status and the JSON body (Null when there is none).
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("the server answers");
        json_of(response).await
    }

    /// Sends `method` to `path` with the CSRF token and an optional JSON body.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("x-csrf-token", &self.csrf);
        if let Some(body) = body {
            request = request.json(&body);
        }
        json_of(request.send().await.expect("the server answers")).await
    }

    pub async fn post(
        &self,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        self.send(reqwest::Method::POST, path, body).await
    }
}

async fn json_of(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

impl TestPortal {
    pub async fn spawn(users: usize, seed: u64) -> Self {
        Self::spawn_in(
            tempfile::tempdir().expect("a temporary data folder"),
            users,
            seed,
        )
        .await
    }

    /// A portal on an existing data folder (to test what survives a restart).
    pub async fn spawn_in(data: tempfile::TempDir, users: usize, seed: u64) -> Self {
        let config = ServeConfig::for_tests(data.path().to_path_buf(), dist_dir(), users, seed);
        Self::spawn_with(data, config).await
    }

    /// A portal started as `config` says (its data folder is `data`).
    pub async fn spawn_with(data: tempfile::TempDir, mut config: ServeConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let base = format!("http://{}", listener.local_addr().unwrap());
        // Links in mails point here.
        config.notify.public_url.get_or_insert_with(|| base.clone());
        if config.database.url.is_none()
            && let Some(database) = database::prepare(&config.data_dir).await
        {
            config.database = database;
        }
        let portal = Portal::start(config).await.expect("the portal starts");
        let sim = portal.state.deployment.simulator.clone();
        let store = portal.state.store.clone();
        for (name, roles) in PEOPLE {
            if !accounts::exists(&store, name).await.unwrap() {
                accounts::add(&store, name, roles, PASSWORD)
                    .await
                    .expect("test accounts");
                accounts::set_email(&store, name, Some(&mail_address(name)))
                    .await
                    .expect("test accounts' addresses");
            }
        }
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(portal.serve(listener, async {
            stopped.await.ok();
        }));
        let everyone = sign_in(&base, "everyone", PASSWORD)
            .await
            .expect("the all-roles account signs in");
        Self {
            base,
            sim,
            store,
            http: reqwest::Client::new(),
            everyone,
            _data: data,
            stop: Some(stop),
        }
    }

    /// The portal's data folder (what `deprov user`, `token` and `audit` take as --data-dir).
    pub fn data_dir(&self) -> &std::path::Path {
        self._data.path()
    }

    /// The portal's database as someone with database access sees it, behind deprov's back:
    /// for tests that tamper with it or move a date.
    pub async fn database(&self) -> sqlx::AnyPool {
        database::direct(self.data_dir()).await
    }

    /// The simulator behind this portal (tests on the default deployment).
    pub fn simulator(&self) -> &Arc<Simulator> {
        self.sim
            .as_ref()
            .expect("this portal runs on the simulator")
    }

    /// Signs `name` in (a test account from [`PEOPLE`]).
    pub async fn person(&self, name: &str) -> Person {
        sign_in(&self.base, name, PASSWORD)
            .await
            .unwrap_or_else(|status| panic!("{name} cannot sign in: {status}"))
    }

    /// GETs `path` as the all-roles account.
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        self.everyone.get_json(path).await
    }
}

/// A user fit for a request: Lync enabled, on-premises, not protected, not excluded. `skip`
/// picks a different one for each request in a test.
pub async fn ordinary_user(portal: &TestPortal, skip: usize) -> String {
    let (_, body) = portal.get_json("/api/users?lync=enabled&limit=100").await;
    body["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["protected"] == false && u["homed_online"] == false && u["title"] != "")
        .nth(skip)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The first `n` users a request may be filed for (enabled in AD and Lync, not protected, not
/// homed online, with a title).
pub async fn leavers(portal: &TestPortal, n: usize) -> Vec<String> {
    let mut users = Vec::new();
    for offset in (0..10_000).step_by(100) {
        let (status, body) = portal
            .get_json(&format!(
                "/api/users?ad=enabled&lync=enabled&limit=100&offset={offset}"
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        let page = body["users"].as_array().unwrap();
        users.extend(
            page.iter()
                .filter(|u| {
                    u["protected"] == false && u["homed_online"] == false && u["title"] != ""
                })
                .map(|u| u["id"].as_str().unwrap().to_owned()),
        );
        if users.len() >= n || page.is_empty() {
            break;
        }
    }
    assert!(users.len() >= n, "not {n} ordinary users: {}", users.len());
    users.truncate(n);
    users
}

/// Signs in through the API; `Err(status)` when refused.
pub async fn sign_in(base: &str, name: &str, password: &str) -> Result<Person, u16> {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let response = http
        .post(format!("{base}/api/session"))
        .json(&serde_json::json!({ "name": name, "password": password }))
        .send()
        .await
        .expect("the server answers");
    if !response.status().is_success() {
        return Err(response.status().as_u16());
    }
    let me: serde_json::Value = response.json().await.unwrap();
    Ok(Person {
        name: name.to_owned(),
        http,
        csrf: me["csrf_token"].as_str().unwrap().to_owned(),
        base: base.to_owned(),
    })
}

impl TestPortal {
    /// Stops the server and hands back its data folder.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let data = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self._data, data)
    }

    /// POSTs to `path` as the all-roles account.
    pub async fn post(
        &self,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        self.everyone.post(path, body).await
    }

    /// Opens a server-sent-event stream as the all-roles account.
    pub async fn events(&self, path: &str) -> EventStream {
        let response = self
            .everyone
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("the stream opens");
        assert_eq!(response.status().as_u16(), 200);
        use futures_util::StreamExt;
        let body = response
            .bytes_stream()
            .map(|chunk| chunk.map(|bytes| bytes.to_vec()));
        EventStream {
            body: Box::pin(body),
            buffer: String::new(),
        }
    }
}

/// A minimal server-sent-events reader: `(event, data)` pairs.
pub struct EventStream {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<Vec<u8>>> + Send>>,
    buffer: String,
}

impl EventStream {
    pub async fn next(&mut self, timeout: Duration) -> Option<(String, String)> {
        use futures_util::StreamExt;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = String::from("message");
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(name) = line.strip_prefix("event:") {
                        event = name.trim().to_owned();
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push(value.strip_prefix(' ').unwrap_or(value).to_owned());
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                return Some((event, data.join("\n")));
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .ok()??
                .ok()?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

impl Drop for TestPortal {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
    }
}

/// Headless Chromium behind its own chromedriver. Both end when dropped, even when the test
/// panicked: chromedriver leads a process group of its own, which Chromium and its helpers join,
/// and the whole group is killed (killing chromedriver alone leaves Chromium running).
pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start() -> Self {
        Self::start_in_zone("UTC").await
    }

    /// A browser whose clock runs in the time zone `zone` (an IANA name, `Asia/Kolkata`).
    pub async fn start_in_zone(zone: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .env("TZ", zone)
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "chromedriver is installed (scripts/test.sh installs Debian's chromium-driver)",
            );
        let profile = tempfile::tempdir().unwrap();
        let capabilities = serde_json::json!({
            "goog:chromeOptions": {
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        });
        let capabilities = capabilities.as_object().unwrap().clone();
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => break client,
                Err(e) if Instant::now() > deadline => panic!("chromedriver did not start: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        Self {
            client,
            driver,
            profile,
        }
    }

    /// The browser's own profile folder: every Chromium process it starts names it.
    pub fn profile(&self) -> &std::path::Path {
        self.profile.path()
    }

    /// Kills chromedriver's whole process group (it leads it: `process_group(0)`), then reaps it.
    fn kill_group(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.wait();
    }

    /// Waits up to `timeout` for an element to appear.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(timeout)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} within {timeout:?}: {e}"))
    }

    /// Waits up to `timeout` for nothing to match `css` any more; `what` says what should have gone.
    pub async fn wait_until_gone(&self, css: &str, timeout: Duration, what: &str) {
        let deadline = Instant::now() + timeout;
        while self.client.find(Locator::Css(css)).await.is_ok() {
            assert!(
                Instant::now() < deadline,
                "{what}: {css} still there after {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Does `action` on the element `css` matches, finding it again when a live redraw replaced
    /// it meanwhile (the page redraws on every event of its stream).
    pub async fn on<T, F, Fut>(&self, css: &str, action: F) -> T
    where
        F: Fn(fantoccini::elements::Element) -> Fut,
        Fut: Future<Output = Result<T, fantoccini::error::CmdError>>,
    {
        let mut last = None;
        for _ in 0..10 {
            let element = self.wait_for(css, Duration::from_secs(15)).await;
            match action(element).await {
                Ok(value) => return value,
                Err(error) => last = Some(error),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css}: {last:?}");
    }

    /// Waits until `css`'s text satisfies `check`, and returns that text.
    pub async fn wait_for_text(
        &self,
        css: &str,
        timeout: Duration,
        check: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = element.text().await
            {
                if check(&text) {
                    return text;
                }
                last = text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{css} never had the expected text within {timeout:?}; last: {last:?}");
    }

    /// Signs in through the page, as a person would, and waits for the portal to show their name.
    pub async fn sign_in(&self, base: &str, name: &str) {
        self.client.goto(&format!("{base}/login")).await.unwrap();
        self.wait_for("#login-name", Duration::from_secs(15))
            .await
            .send_keys(name)
            .await
            .unwrap();
        self.wait_for("#login-password", Duration::from_secs(5))
            .await
            .send_keys(PASSWORD)
            .await
            .unwrap();
        self.wait_for("#login-submit", Duration::from_secs(5))
            .await
            .click()
            .await
            .unwrap();
        self.wait_for_text("#whoami", Duration::from_secs(15), |t| t.contains(name))
            .await;
    }

    pub async fn close(self) {
        let _ = self.client.clone().close().await;
        // Drop kills what is left.
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.kill_group();
    }
}
