//! Feature `tracing`: a span per task poll and per I/O operation, an event
//! per spawn. Both drivers (CI runs it with `--all-features`, and again
//! with `RINGWORK_DRIVER=epoll`).
#![cfg(feature = "tracing")]

mod common;

use common::capture::records;
use std::time::Duration;

fn matching(text: &[&str]) -> usize {
    records()
        .lock()
        .unwrap()
        .iter()
        .filter(|r| text.iter().all(|t| r.contains(t)))
        .count()
}

#[test]
fn polls_and_io_operations_get_spans_and_spawns_events() {
    records();
    let runtime = ringwork::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = ringwork::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let server = ringwork::task::Builder::new()
            .name("traced-echo")
            .spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                let (n, buf) = stream.read(vec![0u8; 16]).await;
                let n = n.unwrap();
                let (r, _) = stream.write_all(buf[..n].to_vec()).await;
                r.unwrap();
            })
            .unwrap();
        let stream = ringwork::net::TcpStream::connect(addr).await.unwrap();
        let (r, _) = stream.write_all(b"ping".to_vec()).await;
        r.unwrap();
        let (r, got) = stream.read_exact(vec![0u8; 4]).await;
        r.unwrap();
        assert_eq!(got, b"ping");
        server.await.unwrap();
        ringwork::time::sleep(Duration::from_millis(1)).await;
    });
    assert!(matching(&["event TRACE:", "ringwork.spawn", "task.name=traced-echo"]) >= 1);
    assert!(matching(&["span ringwork.poll:", "task.name=traced-echo", "worker="]) >= 1);
    // The server task's operations: an accept, a read, a write (whatever
    // each driver makes of them, each is one operation with its span).
    let io_spans = records()
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.starts_with("span ringwork.io:"))
        .cloned()
        .collect::<Vec<_>>();
    for op in ["op=Connect", "op=Send"] {
        assert!(
            io_spans.iter().any(|s| s.contains(op)),
            "{op} in {io_spans:?}"
        );
    }
    assert!(
        io_spans
            .iter()
            .any(|s| s.contains("op=Recv") || s.contains("op=Read")),
        "{io_spans:?}"
    );
}
