//! The app's one HTTP client: JSON to and from the deprov API. Every failure (network, HTTP
//! status, undecodable body) becomes a sentence for the page; a 401 sends the person to sign in;
//! every change carries the session's CSRF token.

use deprov_wire::api::{ApiError, Health, Pools, SearchResults, UserDetail};
use deprov_wire::execution::{ExecuteBody, ExecutionSettings, ExecutionView, RetryBody};
use deprov_wire::notify::DeliveryPage;
use deprov_wire::people::{AuditPage, Me, SignIn};
use deprov_wire::report::{AcceptedException, MismatchReport, NewException};
use deprov_wire::workflow::{
    BulkOutcome, DecisionBody, HeldBatch, NewRequest, RequestList, RequestView,
};
use gloo_net::http::{Request, RequestBuilder, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::cell::RefCell;

/// A failed call, as a sentence a person can act on (and the field at fault, if any).
pub type Failure = String;

thread_local! {
    /// The session's CSRF token (the app is single-threaded WebAssembly).
    static CSRF: RefCell<Option<String>> = const { RefCell::new(None) };
}

pub fn remember(me: &Me) {
    CSRF.with(|csrf| *csrf.borrow_mut() = Some(me.csrf_token.clone()));
}

/// Where the browser is now, to come back to after signing in.
fn here() -> String {
    let location = web_sys::window().map(|w| w.location());
    let path = location
        .as_ref()
        .and_then(|l| l.pathname().ok())
        .unwrap_or_default();
    let search = location
        .as_ref()
        .and_then(|l| l.search().ok())
        .unwrap_or_default();
    format!("{path}{search}")
}

/// Sends the person to the sign-in page, remembering where they were.
pub fn to_sign_in() {
    let next = here();
    if next.starts_with("/login") {
        return;
    }
    if let Some(window) = web_sys::window() {
        let _ = window
            .location()
            .assign(&format!("/login?next={}", encode(&next)));
    }
}

async fn decode<T: DeserializeOwned>(
    response: Result<Response, gloo_net::Error>,
) -> Result<T, Failure> {
    decode_refusal(response)
        .await
        .map_err(|refusal| refusal.message)
}

/// As [`decode`], keeping the field at fault, for a form that shows it next to the field.
async fn decode_refusal<T: DeserializeOwned>(
    response: Result<Response, gloo_net::Error>,
) -> Result<T, ApiError> {
    let plain = |message: String| ApiError {
        message,
        field: None,
    };
    let response = response.map_err(|e| {
        plain(format!(
            "The deprov server could not be reached ({e}). Is it running?"
        ))
    })?;
    if response.ok() {
        return response
            .json::<T>()
            .await
            .map_err(|e| plain(format!("The server's answer could not be read: {e}")));
    }
    let status = response.status();
    if status == 401 {
        to_sign_in();
    }
    match response.json::<ApiError>().await {
        Ok(error) => Err(error),
        Err(_) => Err(plain(format!(
            "The server answered {status} {}.",
            response.status_text()
        ))),
    }
}

async fn get<T: DeserializeOwned>(url: &str) -> Result<T, Failure> {
    decode(
        Request::get(url)
            .header("Accept", "application/json")
            .send()
            .await,
    )
    .await
}

fn with_csrf(request: RequestBuilder) -> RequestBuilder {
    match CSRF.with(|csrf| csrf.borrow().clone()) {
        Some(token) => request.header("X-CSRF-Token", &token),
        None => request,
    }
}

async fn post<B: Serialize, T: DeserializeOwned>(url: &str, body: &B) -> Result<T, Failure> {
    let request = with_csrf(Request::post(url))
        .json(body)
        .map_err(|e| format!("Could not send the form: {e}"))?;
    decode(request.send().await).await
}

async fn put<B: Serialize, T: DeserializeOwned>(url: &str, body: &B) -> Result<T, Failure> {
    let request = with_csrf(Request::put(url))
        .json(body)
        .map_err(|e| format!("Could not send the form: {e}"))?;
    decode(request.send().await).await
}

/// Percent-encodes one query-string value.
pub fn encode(value: &str) -> String {
    String::from(js_sys::encode_uri_component(value))
}

/// Who is signed in; `Ok(None)` when nobody is (no redirect: the caller decides).
pub async fn session() -> Result<Option<Me>, Failure> {
    let response = Request::get("/api/session")
        .send()
        .await
        .map_err(|e| format!("The deprov server could not be reached ({e})."))?;
    if response.status() == 401 {
        return Ok(None);
    }
    let me: Me = response
        .json()
        .await
        .map_err(|e| format!("The server's answer could not be read: {e}"))?;
    remember(&me);
    Ok(Some(me))
}

/// Signs in; a wrong password is an `Err` with the server's sentence, not a redirect.
pub async fn sign_in(name: String, password: String) -> Result<Me, Failure> {
    let response = Request::post("/api/session")
        .json(&SignIn { name, password })
        .map_err(|e| e.to_string())?
        .send()
        .await
        .map_err(|e| format!("The deprov server could not be reached ({e})."))?;
    if !response.ok() {
        let status = response.status();
        return Err(match response.json::<ApiError>().await {
            Ok(error) => error.message,
            Err(_) => format!("The server answered {status}."),
        });
    }
    let me: Me = response.json().await.map_err(|e| e.to_string())?;
    remember(&me);
    Ok(me)
}

pub async fn sign_out() {
    let _ = with_csrf(Request::delete("/api/session")).send().await;
}

/// The portal's word on the directory and the Lync shell (public: no session needed).
pub async fn health() -> Result<Health, Failure> {
    get("/api/health").await
}

/// `GET /api/users` with the page's query string as it stands in the URL.
pub async fn search(query_string: String) -> Result<SearchResults, Failure> {
    get(&format!("/api/users?{query_string}")).await
}

pub async fn user(id: String) -> Result<UserDetail, Failure> {
    get(&format!("/api/users/{}", encode(&id))).await
}

pub async fn pools() -> Result<Pools, Failure> {
    get("/api/pools").await
}

/// `show`: `open`, `due` (stage 2 due) or `all`.
/// A page of requests; with `reference`, only the one filed under that external reference.
pub async fn requests(
    show: &str,
    offset: usize,
    reference: Option<String>,
) -> Result<RequestList, Failure> {
    let reference = reference
        .map(|r| format!("&external_ref={}", encode(&r)))
        .unwrap_or_default();
    get(&format!(
        "/api/requests?show={}&offset={offset}{reference}",
        encode(show)
    ))
    .await
}

/// Every request for one user (that this person may read), newest first.
pub async fn requests_for_user(user: String) -> Result<RequestList, Failure> {
    get(&format!(
        "/api/requests?show=all&limit=200&user={}",
        encode(&user)
    ))
    .await
}

pub async fn request(id: String) -> Result<RequestView, Failure> {
    get(&format!("/api/requests/{}", encode(&id))).await
}

/// Files a request; a refusal names the field at fault.
pub async fn create_request(new: NewRequest) -> Result<RequestView, ApiError> {
    let request = with_csrf(Request::post("/api/requests"))
        .json(&new)
        .map_err(|e| ApiError {
            message: format!("Could not send the form: {e}"),
            field: None,
        })?;
    decode_refusal(request.send().await).await
}

pub async fn accept_exception(new: NewException) -> Result<AcceptedException, Failure> {
    post("/api/exceptions", &new).await
}

pub async fn end_exception(id: i64) -> Result<(), Failure> {
    let request = with_csrf(Request::delete(&format!("/api/exceptions/{id}")));
    let response = request.send().await;
    match response {
        Ok(response) if response.ok() => Ok(()),
        // Not OK: the error's sentence (reading it as an ApiError adds no decoder of its own).
        other => decode::<ApiError>(other).await.map(|_| ()),
    }
}

pub async fn create_bulk(requests: Vec<NewRequest>) -> Result<BulkOutcome, Failure> {
    post("/api/requests/bulk", &requests).await
}

/// Files the requests of a CSV file, sent as it is: the server reads and checks each row.
pub async fn create_bulk_csv(csv: String) -> Result<BulkOutcome, Failure> {
    let request = with_csrf(Request::post("/api/requests/bulk.csv"))
        .header("Content-Type", "text/csv")
        .body(csv)
        .map_err(|e| format!("Could not send the file: {e}"))?;
    decode(request.send().await).await
}

pub async fn batches() -> Result<Vec<HeldBatch>, Failure> {
    get("/api/batches").await
}

/// Confirms a held batch (`confirm`), or discards it.
pub async fn decide_batch(id: i64, confirm: bool) -> Result<BulkOutcome, Failure> {
    let act = if confirm { "confirm" } else { "discard" };
    let url = format!("/api/batches/{id}/{act}");
    if confirm {
        post(&url, &()).await
    } else {
        // A discarded batch answers the batch alone: reread as an outcome that files nothing.
        let batch: HeldBatch = post(&url, &()).await?;
        Ok(BulkOutcome {
            results: Vec::new(),
            filed: 0,
            refused: 0,
            held: Some(batch),
        })
    }
}

/// `decision` is `approve`, `reject` or `cancel`.
pub async fn decide(
    id: i64,
    decision: &'static str,
    body: DecisionBody,
) -> Result<RequestView, Failure> {
    post(&format!("/api/requests/{id}/{decision}"), &body).await
}

/// One page of the report's findings: `query_string` holds the filters, offset and limit.
pub async fn report_page(query_string: String) -> Result<MismatchReport, Failure> {
    get(&format!("/api/report/mismatches?{query_string}")).await
}

pub async fn audit(query_string: String) -> Result<AuditPage, Failure> {
    get(&format!("/api/audit?{query_string}")).await
}

pub async fn deliveries(query_string: String) -> Result<DeliveryPage, Failure> {
    get(&format!("/api/deliveries?{query_string}")).await
}

/// Starts stage 1, stage 2, a rollback or a restore.
pub async fn execute(id: i64, body: ExecuteBody) -> Result<ExecutionView, Failure> {
    post(&format!("/api/requests/{id}/execute"), &body).await
}

pub async fn retry(id: i64, body: RetryBody) -> Result<ExecutionView, Failure> {
    post(&format!("/api/requests/{id}/retry"), &body).await
}

pub async fn execution_settings() -> Result<ExecutionSettings, Failure> {
    get("/api/settings/execution").await
}

pub async fn set_execution_settings(
    settings: ExecutionSettings,
) -> Result<ExecutionSettings, Failure> {
    put("/api/settings/execution", &settings).await
}

/// The plan and progress of request `id`'s execution, read once.
pub async fn execution(id: i64) -> Result<ExecutionView, Failure> {
    get(&format!("/api/requests/{id}/execution")).await
}

/// Simulator demo control: moves the simulated clock forward.
pub async fn advance_clock(seconds: i64) -> Result<(), Failure> {
    // A typed body: serde_json's `Value` would add its code to the download for one field.
    #[derive(Serialize)]
    struct Advance {
        seconds: i64,
    }
    let request = with_csrf(Request::post("/api/sim/clock/advance"))
        .json(&Advance { seconds })
        .map_err(|e| format!("Could not send the form: {e}"))?;
    let response = request
        .send()
        .await
        .map_err(|e| format!("The deprov server could not be reached ({e})."))?;
    if response.ok() {
        return Ok(());
    }
    Err(match response.json::<ApiError>().await {
        Ok(error) => error.message,
        Err(_) => format!("The server answered {}.", response.status()),
    })
}
