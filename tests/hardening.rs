//! What an attack found, each checked for real: slow clients, SIGTERM, and the other items of
//! the hardening issue as they land.

use deprov_tests::TestPortal;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Opens a connection from `local` (a loopback address) to `server`.
fn connect_from(local: [u8; 4], server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::from((local, 0)).into())?;
    socket.connect(&server.into())?;
    Ok(socket.into())
}

// Blocking sockets below: the server needs threads of its own meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_headers_cannot_hold_the_server_and_the_health_check_keeps_answering() {
    let portal = TestPortal::spawn(50, 1).await;
    let server: SocketAddr = portal.base.trim_start_matches("http://").parse().unwrap();
    // 300 clients from one address each send half a request and then nothing.
    let mut slow = Vec::new();
    for _ in 0..300 {
        let Ok(mut stream) = connect_from([127, 0, 0, 1], server) else {
            break;
        };
        let _ = stream.write_all(b"GET /api/health HTTP/1.1\r\nHost: deprov\r\nX-Slow: ");
        slow.push(stream);
    }
    assert_eq!(slow.len(), 300);
    // Someone else still gets an answer at once.
    let began = Instant::now();
    let mut health = connect_from([127, 0, 0, 9], server).unwrap();
    health
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    health
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: deprov\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    health.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "{:?}",
        began.elapsed()
    );
    // The server closes every half-sent request within its header timeout (10 s).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut closed = 0;
    for stream in &mut slow {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(10));
        stream.set_read_timeout(Some(left)).unwrap();
        let mut buffer = [0u8; 512];
        // A timeout, an EOF, or a reset: only a timeout means the connection is still held.
        match stream.read(&mut buffer) {
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            _ => closed += 1,
        }
    }
    assert_eq!(
        closed, 300,
        "every half-sent request was closed by the server"
    );
}

fn request_for(user: &str) -> serde_json::Value {
    serde_json::json!({ "user_id": user, "reason": "termination", "reason_text": "Left", "urgency": "standard" })
}

#[tokio::test]
async fn text_and_dates_are_bounded_and_an_approved_request_can_be_withdrawn_with_a_reason() {
    let portal = TestPortal::spawn(500, 3).await;
    let manager = portal.person("manager").await;
    let user = deprov_tests::ordinary_user(&portal, 0).await;

    // An override is only for protected accounts, and bounded.
    let mut body = request_for(&user);
    body["protected_override"] = "x".repeat(2_001).into();
    let (status, refused) = manager.post("/api/requests", Some(body)).await;
    assert_eq!(
        (status, refused["field"].as_str()),
        (422, Some("protected_override")),
        "{refused}"
    );
    // A request cannot block a user for ever.
    let mut body = request_for(&user);
    body["effective_at"] = "9999-01-01T00:00:00Z".into();
    let (status, refused) = manager.post("/api/requests", Some(body)).await;
    assert_eq!(
        (status, refused["field"].as_str()),
        (422, Some("effective_at")),
        "{refused}"
    );
    let mut body = request_for(&user);
    body["effective_at"] = time::OffsetDateTime::now_utc()
        .saturating_add(time::Duration::days(30))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
        .into();
    let (status, filed) = manager.post("/api/requests", Some(body)).await;
    assert_eq!(status, 201, "{filed}");
    let id = filed["id"].as_i64().unwrap();

    // Pending: an approver rejects, and cannot cancel somebody else's request.
    let approver = portal.person("approver").await;
    let (status, _) = approver
        .post(
            &format!("/api/requests/{id}/cancel"),
            Some(serde_json::json!({ "version": filed["version"], "comment": "no" })),
        )
        .await;
    assert_eq!(status, 403);
    let (status, approved) = approver
        .post(
            &format!("/api/requests/{id}/approve"),
            Some(serde_json::json!({ "version": filed["version"] })),
        )
        .await;
    assert_eq!(status, 200, "{approved}");
    // Approved and not run: an admin withdraws it, and must say why.
    let admin = portal.person("admin").await;
    let path = format!("/api/requests/{id}/cancel");
    let (status, refused) = admin
        .post(
            &path,
            Some(serde_json::json!({ "version": approved["version"] })),
        )
        .await;
    assert_eq!(
        (status, refused["field"].as_str()),
        (422, Some("comment")),
        "{refused}"
    );
    let (status, cancelled) = admin
        .post(&path, Some(serde_json::json!({ "version": approved["version"], "comment": "HR withdrew the termination" })))
        .await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["state"], "cancelled");
    let (_, audit) = portal.get_json("/api/audit?action=request.cancel").await;
    assert!(
        audit.to_string().contains("HR withdrew the termination"),
        "{audit}"
    );
}

#[tokio::test]
async fn the_requests_list_is_paged_with_a_total() {
    let portal = TestPortal::spawn(500, 3).await;
    let manager = portal.person("manager").await;
    for skip in 0..5 {
        let user = deprov_tests::ordinary_user(&portal, skip).await;
        let (status, body) = manager
            .post("/api/requests", Some(request_for(&user)))
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, page) = portal
        .get_json("/api/requests?show=open&limit=2&offset=2")
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            page["total"].as_u64(),
            page["requests"].as_array().unwrap().len()
        ),
        (Some(5), 2)
    );
    assert_eq!(page["offset"], 2);
    let (status, refused) = portal.get_json("/api/requests?show=everything").await;
    assert_eq!((status, refused["field"].as_str()), (400, Some("show")));
    let (status, refused) = portal.get_json("/api/requests?limit=100000").await;
    assert_eq!((status, refused["field"].as_str()), (400, Some("limit")));
}

#[tokio::test]
async fn answers_carry_the_security_headers_and_every_error_is_json() {
    let portal = TestPortal::spawn(50, 1).await;
    let api = portal
        .http
        .get(format!("{}/api/health", portal.base))
        .send()
        .await
        .unwrap();
    assert_eq!(api.headers()["cache-control"], "no-store");
    let page = portal
        .http
        .get(format!("{}/report", portal.base))
        .send()
        .await
        .unwrap();
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.contains("script-src 'self' 'wasm-unsafe-eval' 'sha256-"),
        "{policy}"
    );
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert!(
        page.headers()["permissions-policy"]
            .to_str()
            .unwrap()
            .contains("camera=()")
    );

    // A body over the limit: 413, in the API's error shape.
    let manager = portal.person("manager").await;
    let huge = serde_json::json!({ "user_id": "x", "reason": "termination", "reason_text": "x".repeat(200_000), "urgency": "standard" });
    let (status, body) = manager.post("/api/requests", Some(huge)).await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("larger than"),
        "{body}"
    );
    // A query string that cannot be read: JSON, not text/plain.
    let response = manager
        .http
        .get(format!(
            "{}/api/audit?limit=%zz&offset=1&offset=2",
            portal.base
        ))
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    // Sign-in fields are bounded too.
    let response = portal
        .http
        .post(format!("{}/api/session", portal.base))
        .json(&serde_json::json!({ "name": "n".repeat(300), "password": "p" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 422);
}
