//! The app's one HTTP client: GETs JSON from the deprov API and turns every failure (network,
//! HTTP status, undecodable body) into a sentence for the page.

use deprov_wire::api::{ApiError, Pools, SearchResults, UserDetail};
use gloo_net::http::Request;
use serde::de::DeserializeOwned;

/// A failed call, as a sentence a person can act on.
pub type Failure = String;

async fn get<T: DeserializeOwned>(url: &str) -> Result<T, Failure> {
    let response = Request::get(url)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|e| format!("The deprov server could not be reached ({e}). Is it running?"))?;
    if response.ok() {
        return response.json::<T>().await.map_err(|e| format!("The server's answer could not be read: {e}"));
    }
    let status = response.status();
    match response.json::<ApiError>().await {
        Ok(error) => Err(error.message),
        Err(_) => Err(format!("The server answered {status} {}.", response.status_text())),
    }
}

/// Percent-encodes one query-string value.
pub fn encode(value: &str) -> String {
    String::from(js_sys::encode_uri_component(value))
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
