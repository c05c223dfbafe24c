//! Serves the built front end (Trunk's `dist/`): hashed assets cached for a year, `index.html`
//! always revalidated, and every unknown path answered with `index.html` so client-side routes
//! (`/users/<id>`) survive a reload or a bookmark.

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use std::path::Path;
use tower_http::services::{ServeDir, ServeFile};

pub fn router(static_dir: &Path) -> Router {
    let index = static_dir.join("index.html");
    if !index.is_file() {
        tracing::warn!(dir = %static_dir.display(), "no built front end; the API still works");
        let dir = static_dir.display().to_string();
        return Router::new().fallback(move || not_built(dir.clone()));
    }
    let files = ServeDir::new(static_dir).fallback(ServeFile::new(index));
    Router::new()
        .fallback_service(files)
        .layer(middleware::from_fn(cache_control))
}

async fn not_built(dir: String) -> impl IntoResponse {
    (
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        Html(format!(
            "<!doctype html><title>deprov</title><h1>deprov: the front end is not built</h1>\
             <p>No <code>index.html</code> in <code>{}</code>. Run <code>scripts/run.sh</code> from the repository \
             root (it builds the front end, then starts the portal), or pass <code>--static-dir</code>.</p>\
             <p>The API is up: <a href=\"/api/health\">/api/health</a>.</p>",
            html_escape(&dir)
        )),
    )
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Trunk names every asset `<name>-<hash>[_bg].<ext>`, the hash a u64 in hex without leading
/// zeros (so usually 16 digits, sometimes fewer): such a file never changes.
fn is_hashed(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or_default();
    // Only built assets: a client route such as /users/<GUID> also ends in hex digits.
    let Some((stem, "wasm" | "js" | "css")) = file.rsplit_once('.') else {
        return false;
    };
    stem.rsplit('-').next().is_some_and(|tail| {
        let hash = tail.strip_suffix("_bg").unwrap_or(tail);
        (10..=16).contains(&hash.len()) && hash.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

async fn cache_control(request: Request, next: Next) -> Response {
    let hashed = is_hashed(request.uri().path());
    let mut response = next.run(request).await;
    let policy = if hashed && response.status().is_success() {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(policy));
    response
}

#[cfg(test)]
mod tests {
    use super::is_hashed;

    #[test]
    fn recognises_trunk_hashed_names_only() {
        assert!(is_hashed("/deprov-app-0a1b2c3d4e5f6a7b_bg.wasm"));
        assert!(is_hashed("/deprov-app-0a1b2c3d4e5f6a7b.js"));
        assert!(is_hashed("/main-0a1b2c3d4e5f6a7b.css"));
        assert!(
            is_hashed("/deprov-app-89f396099c5aa6_bg.wasm"),
            "a hash with leading zeros dropped"
        );
        assert!(!is_hashed("/index.html"));
        assert!(!is_hashed("/users/5f1e0c2a-9b8d-4e6f-8a7b-0a1b2c3d4e5f"));
        assert!(!is_hashed("/favicon.ico"));
    }
}
