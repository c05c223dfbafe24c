//! The UI in a real headless Chromium over WebDriver, as a person would use it.

use deprov_tests::{Browser, TestPortal};
use fantoccini::Locator;
use fantoccini::key::Key;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(15);

#[tokio::test]
async fn typing_a_query_shows_results_and_the_keyboard_opens_a_user() {
    let portal = TestPortal::spawn(2_000, 5).await;
    let browser = Browser::start().await;
    browser.client.goto(&format!("{}/", portal.base)).await.unwrap();

    let (_, body) = portal.get_json("/api/users?q=anna").await;
    let expected = format!("1–{} of {} users", body["users"].as_array().unwrap().len(), body["total"]);

    let search = browser.wait_for("#search", PATIENCE).await;
    search.send_keys("anna").await.unwrap();
    browser.wait_for_text("#results-status", PATIENCE, |t| t == expected).await;
    let url = browser.client.current_url().await.unwrap();
    assert!(url.as_str().ends_with("/?q=anna"), "the query is kept in the URL: {url}");

    let rows = browser.client.find_all(Locator::Css("#results tbody tr")).await.unwrap();
    assert!(!rows.is_empty());
    let second_name = rows[1].find(Locator::Css(".user-link")).await.unwrap().text().await.unwrap();
    assert!(second_name.to_lowercase().contains("anna"), "{second_name}");

    // ↓ moves to the second row, Enter opens it.
    search.send_keys(&char::from(Key::Down).to_string()).await.unwrap();
    search.send_keys(&char::from(Key::Enter).to_string()).await.unwrap();
    let heading = browser.wait_for_text("#user-name", PATIENCE, |t| !t.is_empty()).await;
    assert_eq!(heading, second_name);
    assert!(browser.client.current_url().await.unwrap().path().starts_with("/users/"));
    let methods = browser.client.find_all(Locator::Css("#methods tbody tr")).await.unwrap();
    assert_eq!(methods.len(), 5, "one row per de-provisioning method");
    browser.close().await;
}

#[tokio::test]
async fn a_bookmarked_search_and_a_bad_link_both_make_sense() {
    let portal = TestPortal::spawn(500, 6).await;
    let (_, body) = portal.get_json("/api/users?limit=1&lync=enabled").await;
    let sam = body["users"][0]["sam_account_name"].as_str().unwrap().to_owned();
    let name = body["users"][0]["display_name"].as_str().unwrap().to_owned();

    let browser = Browser::start().await;
    browser.client.goto(&format!("{}/?q={sam}&lync=enabled", portal.base)).await.unwrap();
    browser.wait_for_text("#results tbody tr:first-child .user-link", PATIENCE, |t| t == name).await;
    let value = browser.wait_for("#search", PATIENCE).await.prop("value").await.unwrap();
    assert_eq!(value.as_deref(), Some(sam.as_str()), "the box shows the bookmarked query");

    browser.client.goto(&format!("{}/users/not-a-guid", portal.base)).await.unwrap();
    let error = browser.wait_for_text(".error", PATIENCE, |t| !t.is_empty()).await;
    assert!(error.contains("is not a user id"), "{error}");
    browser.close().await;
}
