//! Live reload: the proxy watches its config file and takes edits while serving — room
//! settings without touching the line, bad edits refused with the old config kept, and a
//! rotated certificate seen by the next handshake.

mod common;

use std::time::{Duration, Instant};

use common::harness::Harness;
use common::Pki;

/// Writes `text` the way editors and config tools do: a new file renamed over the old.
fn replace(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn reloads(metrics: &str, result: &str) -> f64 {
    common::sample(metrics, "usher_config_reloads_total", &[("result", result)])
}

/// Polls the admin metrics until `f` holds for them (or fails after `within`).
async fn until_metrics(admin: std::net::SocketAddr, within: Duration, f: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + within;
    loop {
        let (_, text) = common::admin_get(admin, "/metrics").await;
        if f(&text) {
            return;
        }
        assert!(Instant::now() < deadline, "not within {within:?}:\n{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn max_active_follows_the_file_and_nobody_loses_their_place() {
    let room = ["mode = \"queue\"", "new_per_minute = 0", "max_active = 1"];
    let proxy = Harness::builder().room(&room).watch().start().await;
    let (path, adm) = (proxy.config_path(), proxy.admin());

    // Eleven visitors: the first is called (max_active 1), ten wait in join order.
    let mut line = Vec::new();
    for _ in 0..11 {
        let mut v = proxy.visitor().await;
        let r = v.get("/book").await;
        assert!(r.body.contains("data-state=\"waiting\""), "{}", r.body);
        line.push(v);
    }
    line[0].wait_until_called(Duration::from_secs(5)).await;
    assert_eq!(line[0].get("/headers").await.status, 200, "the first is in");
    let mut before = Vec::new();
    for v in &mut line[1..] {
        before.push(v.status().await["ahead"].as_u64().unwrap());
    }
    assert_eq!(before, (0..10).collect::<Vec<u64>>(), "ahead in join order");

    // The operator raises max_active to 5 in the file: four more are called, in order.
    let edited = Instant::now();
    replace(
        &path,
        &proxy
            .config_for(|b| b.room(&["mode = \"queue\"", "new_per_minute = 0", "max_active = 5"])),
    );
    line[4].wait_until_called(Duration::from_secs(5)).await;
    let followed = edited.elapsed();
    println!("admission followed the edit after {followed:?}");
    assert!(
        followed < Duration::from_secs(3),
        "admission followed the file only after {followed:?}"
    );
    for v in &mut line[1..4] {
        assert_eq!(v.status().await["state"], "called");
    }
    // Nobody lost their place: each one still waiting moved up by exactly four.
    for (i, v) in line[5..].iter_mut().enumerate() {
        let st = v.status().await;
        assert_eq!(st["state"], "waiting", "{st}");
        assert_eq!(st["ahead"].as_u64().unwrap(), before[i + 4] - 4, "{st}");
    }
    let (_, metrics) = common::admin_get(adm, "/metrics").await;
    assert!(reloads(&metrics, "ok") >= 1.0);
    assert_eq!(reloads(&metrics, "error"), 0.0);

    // A broken edit is refused: counted, and the old config keeps serving.
    replace(&path, "[listen\npublic = ");
    until_metrics(adm, Duration::from_secs(5), |m| reloads(m, "error") >= 1.0).await;
    // An invalid value (not only bad TOML) is refused too.
    replace(
        &path,
        &proxy.config_for(|b| b.room(&["mode = \"queue\"", "max_active = -3"])),
    );
    until_metrics(adm, Duration::from_secs(5), |m| reloads(m, "error") >= 2.0).await;
    let st = line[5].status().await;
    assert_eq!(
        (st["state"].as_str(), st["ahead"].as_u64()),
        (Some("waiting"), Some(0)),
        "{st}"
    );
    assert_eq!(
        line[1].get("/book").await.status,
        200,
        "a called visitor still gets in"
    );
    // Still max_active 5: with five inside, nobody more is called.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(line[5].status().await["state"], "waiting");

    // A good file again: picked up, admission goes on from the same line.
    replace(
        &path,
        &proxy
            .config_for(|b| b.room(&["mode = \"queue\"", "new_per_minute = 0", "max_active = 6"])),
    );
    line[5].wait_until_called(Duration::from_secs(5)).await;
    proxy.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_certificate_is_served_to_new_handshakes() {
    let proxy = Harness::builder().watch().start().await;
    let (pki, addr) = (proxy.pki(), proxy.public());

    // A connection made with the old certificate.
    let mut old = pki.client.h1(addr).await;
    assert_eq!(common::get(&mut old, "/headers", &[]).await.0, 200);

    // A new certificate from another CA is written over the same files (key first, then
    // the certificate, as a renewal tool would; the watcher may see a mismatched pair in
    // between, which is refused until the pair matches).
    let next = Pki::new();
    replace(&pki.key, &std::fs::read_to_string(&next.key).unwrap());
    replace(&pki.cert, &std::fs::read_to_string(&next.cert).unwrap());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let ok = next
            .client
            .connector(&[b"http/1.1"])
            .connect(
                rustls::pki_types::ServerName::try_from("localhost").unwrap(),
                tcp,
            )
            .await
            .is_ok();
        if ok {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // New handshakes trusting only the old CA now fail; the old connection still works.
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(pki
        .client
        .connector(&[b"http/1.1"])
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            tcp
        )
        .await
        .is_err());
    assert_eq!(common::get(&mut old, "/headers", &[]).await.0, 200);
    let mut fresh = next.client.h1(addr).await;
    assert_eq!(common::get(&mut fresh, "/headers", &[]).await.0, 200);
    proxy.shutdown().await;
}
