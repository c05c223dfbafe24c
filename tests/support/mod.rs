//! The test kit: a real deprov server on port 0 with its own data folder, an HTTP client for it,
//! and a headless Chromium driven over WebDriver.

use deprov_server::Portal;
use deprov_server::backend::sim::Simulator;
use deprov_server::config::ServeConfig;
use fantoccini::{Client, ClientBuilder, Locator};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The built front end: scripts/test.sh runs Trunk before the tests.
pub fn dist_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist")
}

/// A running portal on the simulator. Stops when dropped.
pub struct TestPortal {
    pub base: String,
    pub simulator: Arc<Simulator>,
    pub http: reqwest::Client,
    _data: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
}

impl TestPortal {
    pub async fn spawn(users: usize, seed: u64) -> Self {
        Self::spawn_in(tempfile::tempdir().expect("a temporary data folder"), users, seed).await
    }

    /// A portal on an existing data folder (to test what survives a restart).
    pub async fn spawn_in(data: tempfile::TempDir, users: usize, seed: u64) -> Self {
        let config = ServeConfig::for_tests(data.path().to_path_buf(), dist_dir(), users, seed);
        let portal = Portal::start(config).await.expect("the portal starts");
        let simulator = portal.state.simulator.clone().expect("the default backend is the simulator");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(portal.serve(listener, async { stopped.await.ok(); }));
        Self { base, simulator, http: reqwest::Client::new(), _data: data, stop: Some(stop) }
    }

    /// GETs `path` and returns the status and the JSON body.
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self.http.get(format!("{}{path}", self.base)).send().await.expect("the server answers");
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or_else(|e| panic!("GET {path}: body is not JSON: {e}"));
        (status, body)
    }
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

    /// POSTs to `path` and returns the status and the body (JSON or empty).
    pub async fn post(&self, path: &str, body: Option<serde_json::Value>) -> (u16, serde_json::Value) {
        let mut request = self.http.post(format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
    }

    /// Opens a server-sent-event stream.
    pub async fn events(&self, path: &str) -> EventStream {
        let response = self.http.get(format!("{}{path}", self.base)).send().await.expect("the stream opens");
        assert_eq!(response.status().as_u16(), 200);
        use futures_util::StreamExt;
        let body = response.bytes_stream().map(|chunk| chunk.map(|bytes| bytes.to_vec()));
        EventStream { body: Box::pin(body), buffer: String::new() }
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
            let chunk = tokio::time::timeout_at(deadline, self.body.next()).await.ok()??.ok()?;
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

/// Headless Chromium behind its own chromedriver. Both end when dropped.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is installed (scripts/test.sh installs Debian's chromium-driver)");
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
            match ClientBuilder::new(connector).capabilities(capabilities.clone()).connect(&format!("http://127.0.0.1:{port}")).await {
                Ok(client) => break client,
                Err(e) if Instant::now() > deadline => panic!("chromedriver did not start: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        Self { client, driver, _profile: profile }
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

    /// Waits until `css`'s text satisfies `check`, and returns that text.
    pub async fn wait_for_text(&self, css: &str, timeout: Duration, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                if let Ok(text) = element.text().await {
                    if check(&text) {
                        return text;
                    }
                    last = text;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{css} never had the expected text within {timeout:?}; last: {last:?}");
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}
