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
        let Ok(mut stream) = connect_from([127, 0, 0, 1], server) else { break };
        let _ = stream.write_all(b"GET /api/health HTTP/1.1\r\nHost: deprov\r\nX-Slow: ");
        slow.push(stream);
    }
    assert_eq!(slow.len(), 300);
    // Someone else still gets an answer at once.
    let began = Instant::now();
    let mut health = connect_from([127, 0, 0, 9], server).unwrap();
    health.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    health.write_all(b"GET /api/health HTTP/1.1\r\nHost: deprov\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    health.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(began.elapsed() < Duration::from_secs(2), "{:?}", began.elapsed());
    // The server closes every half-sent request within its header timeout (10 s).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut closed = 0;
    for stream in &mut slow {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(10));
        stream.set_read_timeout(Some(left)).unwrap();
        let mut buffer = [0u8; 512];
        // A timeout, an EOF, or a reset: only a timeout means the connection is still held.
        match stream.read(&mut buffer) {
            Err(error) if matches!(error.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            _ => closed += 1,
        }
    }
    assert_eq!(closed, 300, "every half-sent request was closed by the server");
}
