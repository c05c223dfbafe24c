//! Serves the built front end (Trunk's `dist/`): hashed assets cached for a year, `index.html`
//! always revalidated, and every unknown path answered with `index.html` so client-side routes
//! (`/users/<id>`) survive a reload or a bookmark; each file is sent precompressed (brotli or
//! gzip, made at build time) when the browser accepts it. Every page carries a Content-Security-Policy
//! that allows Trunk's inline bootstrap by its hash (no `unsafe-inline`) and a Permissions-Policy
//! that turns off what the portal never uses.

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use std::path::Path;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

pub fn router(static_dir: &Path) -> Router {
    let index = static_dir.join("index.html");
    if !index.is_file() {
        tracing::warn!(dir = %static_dir.display(), "no built front end; the API still works");
        let dir = static_dir.display().to_string();
        return Router::new().fallback(move || not_built(dir.clone()));
    }
    let policy = match std::fs::read_to_string(&index) {
        Ok(html) => content_security_policy(&html),
        Err(error) => {
            tracing::warn!(%error, "cannot read index.html to hash its bootstrap script");
            content_security_policy("")
        }
    };
    // Trunk's post-build hook (scripts/precompress.mjs) writes `.br` and `.gz` beside each asset:
    // sent as they are to a browser that takes them, so nothing is compressed per request.
    let files = ServeDir::new(static_dir)
        .precompressed_br()
        .precompressed_gzip()
        .fallback(
            ServeFile::new(index)
                .precompressed_br()
                .precompressed_gzip(),
        );
    Router::new()
        .fallback_service(files)
        .layer(middleware::from_fn(cache_control))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&policy).expect("the policy is ASCII"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static(PERMISSIONS),
        ))
}

/// Browser features the portal never uses, off for it and anything it could be tricked into.
const PERMISSIONS: &str = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), \
     serial=(), bluetooth=(), hid=(), midi=(), display-capture=(), interest-cohort=()";

/// Scripts only from the portal itself, plus each inline script of `index.html` (Trunk's
/// bootstrap) by its SHA-256; WebAssembly compiled ('wasm-unsafe-eval' allows that, not eval);
/// nothing framed, nothing posted elsewhere.
pub fn content_security_policy(index_html: &str) -> String {
    use base64::Engine as _;
    use sha2::{Digest, Sha256};
    let mut hashes = String::new();
    let mut rest = index_html;
    while let Some(start) = rest.find("<script") {
        let after = &rest[start..];
        let Some(open_end) = after.find('>') else {
            break;
        };
        let tag = &after[..open_end];
        let body_start = open_end + 1;
        let Some(close) = after[body_start..].find("</script>") else {
            break;
        };
        let body = &after[body_start..body_start + close];
        if !tag.contains("src=") {
            let digest = Sha256::digest(body.as_bytes());
            hashes.push_str(&format!(
                " 'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            ));
        }
        rest = &after[body_start + close..];
    }
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
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
    use super::{content_security_policy, is_hashed};

    #[test]
    fn the_policy_allows_each_inline_bootstrap_by_its_hash_and_nothing_inline_else() {
        let html = "<head><script type=\"module\">\nimport init from '/a.js';\n</script>\
                    <script src=\"/b.js\"></script></head>";
        let policy = content_security_policy(html);
        // sha256 of "\nimport init from '/a.js';\n", base64.
        use base64::Engine as _;
        use sha2::Digest as _;
        let expected = base64::engine::general_purpose::STANDARD
            .encode(sha2::Sha256::digest(b"\nimport init from '/a.js';\n"));
        assert!(policy.contains(&format!("'sha256-{expected}'")), "{policy}");
        assert_eq!(
            policy.matches("'sha256-").count(),
            1,
            "external scripts need no hash"
        );
        assert!(!policy.contains("unsafe-inline"));
        assert!(policy.contains("frame-ancestors 'none'"));
    }

    #[test]
    fn recognises_trunk_hashed_names_only() {
        assert!(is_hashed("/deprov-app-0a1b2c3d4e5f6a7b_bg.wasm"));
        assert!(is_hashed("/deprov-app-0a1b2c3d4e5f6a7b.js"));
        assert!(is_hashed("/main-0a1b2c3d4e5f6a7b.css"));
        assert!(
            is_hashed("/deprov-app-89f396099c5aa6_bg.wasm"),
            "a hash with leading zeros dropped"
        );
        // The split wasm's loader and chunks (scripts/split.mjs) carry the build's hash too.
        assert!(is_hashed("/__wasm_split-0a1b2c3d4e5f6a7b.js"));
        assert!(is_hashed("/chunk_12-0a1b2c3d4e5f6a7b.wasm"));
        assert!(is_hashed(
            "/split___report_route_view_3290676594089304965-0a1b2c3d4e5f6a7b.wasm"
        ));
        assert!(!is_hashed("/index.html"));
        assert!(!is_hashed("/users/5f1e0c2a-9b8d-4e6f-8a7b-0a1b2c3d4e5f"));
        assert!(!is_hashed("/favicon.ico"));
    }
}
