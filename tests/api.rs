//! The HTTP API against a real server on port 0.

use deprov_tests::TestPortal;
use deprov_wire::api::{Health, SearchResults, UserDetail};
use deprov_wire::method::Method;
use std::time::Duration;

fn parse<T: serde::de::DeserializeOwned>(body: serde_json::Value) -> T {
    serde_json::from_value(body).expect("the body has the documented shape")
}

#[tokio::test]
async fn health_names_the_backend_and_the_directory_size() {
    let portal = TestPortal::spawn(300, 1).await;
    let (status, body) = portal.get_json("/api/health").await;
    assert_eq!(status, 200);
    let health: Health = parse(body);
    assert_eq!(health.status, "ok");
    assert_eq!(health.backend, "simulator");
    assert_eq!(health.directory_users, 300);
}

#[tokio::test]
async fn search_finds_filters_and_pages() {
    let portal = TestPortal::spawn(2_000, 7).await;
    let (status, body) = portal.get_json("/api/users?q=an&limit=10").await;
    assert_eq!(status, 200);
    let page: SearchResults = parse(body);
    assert_eq!(page.users.len(), 10);
    assert!(page.total > 10);
    for user in &page.users {
        let names = format!(
            "{} {} {} {:?}",
            user.display_name, user.sam_account_name, user.user_principal_name, user.sip_address
        );
        assert!(names.to_lowercase().contains("an"), "{names}");
    }

    let (_, body) = portal
        .get_json("/api/users?ad=disabled&lync=enabled&limit=100")
        .await;
    let holes: SearchResults = parse(body);
    assert!(
        holes.total > 0,
        "the generated directory has leavers still enabled for Lync"
    );
    assert!(
        holes
            .users
            .iter()
            .all(|u| u.ad_state.as_str() == "disabled" && u.lync_state.as_str() == "enabled")
    );

    let (_, body) = portal
        .get_json(&format!(
            "/api/users?q=an&limit=10&offset={}",
            page.total - 3
        ))
        .await;
    let tail: SearchResults = parse(body);
    assert_eq!(tail.users.len(), 3);
}

#[tokio::test]
async fn bad_parameters_get_a_400_naming_the_field() {
    let portal = TestPortal::spawn(50, 1).await;
    let long = "x".repeat(201);
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("offset=-1", "offset"),
        ("ad=maybe", "ad"),
        ("lync=True", "lync"),
        (&*format!("q={long}"), "q"),
    ] {
        let (status, body) = portal.get_json(&format!("/api/users?{query}")).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(body["field"], field, "{query}");
        assert!(
            body["message"].as_str().is_some_and(|m| m.len() > 10),
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn a_user_comes_with_a_prediction_for_every_method() {
    let portal = TestPortal::spawn(500, 3).await;
    let (_, body) = portal
        .get_json("/api/users?ad=disabled&lync=enabled&limit=1")
        .await;
    let found: SearchResults = parse(body);
    let id = found.users[0].id;
    let (status, body) = portal.get_json(&format!("/api/users/{id}")).await;
    assert_eq!(status, 200);
    let detail: UserDetail = parse(body);
    assert_eq!(detail.user.id, id);
    let methods: Vec<Method> = detail.predictions.iter().map(|p| p.method).collect();
    assert_eq!(methods, Method::ALL);
    let temporary = &detail.predictions[1];
    assert!(
        temporary
            .command
            .as_deref()
            .unwrap()
            .starts_with("Set-CsUser -Identity '")
    );
}

#[tokio::test]
async fn unknown_users_and_malformed_ids_are_told_apart() {
    let portal = TestPortal::spawn(50, 1).await;
    let (status, body) = portal
        .get_json("/api/users/00000000-0000-4000-8000-000000000000")
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["message"], "No such user in the directory.");
    let (status, body) = portal.get_json("/api/users/not-a-guid").await;
    assert_eq!(status, 400);
    assert_eq!(body["field"], "id");
    for path in ["/api/users/%FF", "/api/requests/%FF/execution"] {
        let (status, body) = portal.get_json(path).await;
        assert_eq!(status, 400, "{path}");
        assert!(body["message"].is_string(), "{path}: {body}");
    }
}

#[tokio::test]
async fn unknown_endpoints_and_methods_answer_in_the_error_shape() {
    let portal = TestPortal::spawn(50, 1).await;
    let (status, body) = portal.get_json("/api/nothing/here").await;
    assert_eq!(status, 404);
    assert!(body["message"].is_string());
    let response = portal
        .http
        .post(format!("{}/api/users", portal.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["message"].is_string());
}

#[tokio::test]
async fn the_openapi_document_lists_every_route() {
    let portal = TestPortal::spawn(10, 1).await;
    let (status, body) = portal.get_json("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert!(body["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/api/health", "/api/users", "/api/users/{id}", "/api/pools"] {
        assert!(
            body["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(body["components"]["schemas"]["ApiError"].is_object());
}

/// Whatever a route's own annotation lists, the document gives every operation the statuses its
/// extractors and layers can answer, and each guarded one the credentials it needs.
#[tokio::test]
async fn every_operation_documents_its_credentials_and_the_errors_its_extractors_answer() {
    let portal = TestPortal::spawn(10, 1).await;
    let (_, document) = portal.get_json("/api/openapi.json").await;
    let schemes = &document["components"]["securitySchemes"];
    for (scheme, place, name) in [
        ("session", "cookie", "deprov_session"),
        ("csrf", "header", "x-csrf-token"),
    ] {
        assert_eq!(schemes[scheme]["type"], "apiKey", "{scheme}");
        assert_eq!(schemes[scheme]["in"], place, "{scheme}");
        assert_eq!(schemes[scheme]["name"], name, "{scheme}");
    }
    assert_eq!(
        (&schemes["bearer"]["type"], &schemes["bearer"]["scheme"]),
        (&serde_json::json!("http"), &serde_json::json!("bearer")),
        "API tokens are a bearer scheme"
    );
    let public = [("get", "/api/health"), ("post", "/api/session")];
    let mut operations = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            let mut statuses = vec!["500"];
            if operation["parameters"]
                .as_array()
                .is_some_and(|p| !p.is_empty())
            {
                statuses.push("400");
            }
            if operation["requestBody"].is_object() {
                statuses.extend(["400", "413"]);
            }
            if public.contains(&(method.as_str(), path.as_str())) {
                assert!(operation["security"].is_null(), "{method} {path} is public");
            } else {
                statuses.extend(["401", "403"]);
                let mut requirement = serde_json::json!({ "session": [] });
                if method != "get" {
                    requirement["csrf"] = serde_json::json!([]);
                }
                // The browser's session (with CSRF on changes), or an API token alone.
                assert_eq!(
                    operation["security"],
                    serde_json::json!([requirement, { "bearer": [] }]),
                    "{method} {path}"
                );
            }
            let responses = operation["responses"].as_object().unwrap();
            for status in statuses {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} does not document {status}"
                );
            }
            for (status, response) in responses {
                if status.starts_with(['4', '5']) {
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ApiError",
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
    assert!(operations >= 29, "only {operations} operations");
}

#[tokio::test]
async fn directory_changes_reach_search_within_a_second() {
    let portal = TestPortal::spawn(300, 2).await;
    let (_, body) = portal.get_json("/api/users?ad=enabled&limit=1").await;
    let user = parse::<SearchResults>(body).users.remove(0);
    portal.simulator().ad_disable(user.id).unwrap();
    let query = format!("/api/users?q={}&ad=disabled", user.sam_account_name);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    loop {
        let (_, body) = portal.get_json(&query).await;
        if parse::<SearchResults>(body)
            .users
            .iter()
            .any(|u| u.id == user.id)
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the change did not reach search within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_front_end_is_served_compressed_with_client_routes_and_long_caching() {
    let portal = TestPortal::spawn(10, 1).await;
    let page = portal
        .http
        .get(format!("{}/users/anything", portal.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.status().as_u16(),
        200,
        "client-side routes fall back to index.html"
    );
    assert_eq!(page.headers()["cache-control"], "no-cache");
    let html = page.text().await.unwrap();
    let wasm = html
        .split(['"', '\''])
        .find(|s| s.ends_with("_bg.wasm"))
        .expect("index.html references the hashed wasm")
        .to_owned();
    let asset = portal
        .http
        .get(format!(
            "{}{}{wasm}",
            portal.base,
            if wasm.starts_with('/') { "" } else { "/" }
        ))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(asset.status().as_u16(), 200);
    assert_eq!(
        asset.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(asset.headers()["content-encoding"], "gzip");
}
