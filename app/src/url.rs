//! List pages keep their search and filters in the URL's query string, so every view can be
//! bookmarked and shared; these read and rewrite it.

use crate::api::encode;
use leptos_router::NavigateOptions;
use leptos_router::params::ParamsMap;

/// `key=value&...` for the non-empty values of `keys`, percent-encoded, in `keys` order.
pub fn query_string(query: &ParamsMap, keys: &[&str]) -> String {
    keys.iter()
        .filter_map(|key| {
            query
                .get(key)
                .filter(|v| !v.is_empty())
                .map(|v| format!("{key}={}", encode(&v)))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The query string with `key` set to `value` (dropped when empty) and the `reset` keys dropped
/// (the page offset, when a filter changes).
pub fn with_param(
    query: &ParamsMap,
    keys: &[&str],
    key: &str,
    value: &str,
    reset: &[&str],
) -> String {
    keys.iter()
        .filter(|k| !reset.contains(k))
        .filter_map(|k| {
            let v = if *k == key {
                value.trim().to_owned()
            } else {
                query.get(k)?
            };
            (!v.is_empty()).then(|| format!("{k}={}", encode(&v)))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The page offset in the query string (0 when absent or not a number).
pub fn offset(query: &ParamsMap) -> usize {
    query
        .get("offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0)
}

/// Filters replace the current history entry: the back button leaves the page, not the last filter.
pub fn replacing() -> NavigateOptions {
    NavigateOptions {
        replace: true,
        scroll: false,
        ..Default::default()
    }
}
