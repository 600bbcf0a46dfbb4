//! The real `usher` binary as an operator runs it: streaming memory, signals, check-config.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::harness::Harness;
use common::upstream;
use http_body_util::BodyExt;

const BIN: &str = env!("CARGO_BIN_EXE_usher");

#[tokio::test(flavor = "multi_thread")]
async fn fifty_megabytes_stream_both_ways_without_buffering() {
    const MIB50: usize = 50 * 1024 * 1024;
    let proxy = Harness::builder()
        .line("limits", "max_body_bytes = \"100MiB\"")
        .binary()
        .start()
        .await;
    let baseline = proxy.nodes[0].process().peak_rss_kib();

    // Upload 50 MiB as a chunked stream; the upstream counts what arrives.
    let mut c = proxy.h1().await;
    let chunk = bytes::Bytes::from(vec![b'u'; 64 * 1024]);
    let frames = futures_util::stream::iter(
        (0..MIB50 / chunk.len())
            .map(move |_| Ok::<_, common::BoxError>(hyper::body::Frame::data(chunk.clone()))),
    );
    let req = http::Request::post("/sink")
        .header("host", "localhost")
        .body(BodyExt::boxed(http_body_util::StreamBody::new(frames)))
        .unwrap();
    let resp = c.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let n = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(n, MIB50.to_string());

    // Download 50 MiB; count it frame by frame.
    let req = http::Request::get("/big/50")
        .header("host", "localhost")
        .body(common::empty())
        .unwrap();
    c.ready().await.unwrap();
    let mut body = c.send_request(req).await.unwrap().into_body();
    let mut got = 0usize;
    while let Some(f) = body.frame().await {
        got += f.unwrap().data_ref().map(|d| d.len()).unwrap_or(0);
    }
    assert_eq!(got, MIB50);

    let peak = proxy.nodes[0].process().peak_rss_kib();
    eprintln!("proxy peak RSS: baseline {baseline} KiB, after 2x50 MiB {peak} KiB");
    // Buffering either body whole would add 50 MiB; streaming adds a few buffers.
    assert!(
        peak - baseline < 16 * 1024,
        "peak RSS grew by {} KiB (baseline {baseline} KiB)",
        peak - baseline
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_in_flight_requests_then_exits() {
    let mut proxy = Harness::builder().binary().start().await;
    let (status, _) = common::admin_get(proxy.admin(), "/readyz").await;
    assert_eq!(status, 200);
    let mut c = proxy.h1().await;
    let in_flight = tokio::spawn(async move { common::get(&mut c, "/slow/1000", &[]).await });
    tokio::time::sleep(Duration::from_millis(250)).await;
    let sent = Instant::now();
    let ok = Command::new("kill")
        .args(["-TERM", &proxy.nodes[0].process().pid().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let (status, _, body) = in_flight.await.unwrap();
    assert_eq!((status.as_u16(), body.as_str()), (200, "slow done"));
    // The process exits cleanly once drained.
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(s) = proxy.nodes[0].process_mut().child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "proxy did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "exit status {exit:?}");
    assert!(
        sent.elapsed() >= Duration::from_millis(500),
        "exited before the request finished"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_the_config_and_a_bad_file_is_refused() {
    let b = upstream::spawn().await;
    let proxy = Harness::builder().binary().start().await;
    let (admin, pid) = (proxy.admin(), proxy.nodes[0].process().pid());
    let reloads = |result: &'static str| async move {
        let (_, m) = common::admin_get(admin, "/metrics").await;
        common::sample(&m, "usher_config_reloads_total", &[("result", result)])
    };
    let hup = || {
        let ok = Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    };
    let until = |result: &'static str, n: f64| async move {
        let deadline = Instant::now() + Duration::from_secs(5);
        while reloads(result).await < n {
            assert!(Instant::now() < deadline, "no {result} reload counted");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    // SIGHUP with the file unchanged: a reload, not the default "terminate".
    hup();
    until("ok", 1.0).await;
    let mut c = proxy.h1().await;
    assert_eq!(common::get(&mut c, "/headers", &[]).await.0, 200);
    // Log lines arrive through a pipe read by another thread: wait for them.
    let logged = |what: &'static str| {
        let log = proxy.nodes[0].process().log.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !log.lock().unwrap().iter().any(|l| l.contains(what)) {
                let all = log.lock().unwrap().join("\n");
                assert!(Instant::now() < deadline, "no {what:?} in the log:\n{all}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    logged("SIGHUP").await;
    // A new upstream in the file: the next requests go there, the open connection stays.
    let path = proxy.config_path();
    std::fs::write(&path, proxy.config_for(|c| c.upstream(b.addr))).unwrap();
    hup();
    let deadline = Instant::now() + Duration::from_secs(5);
    while b.hits() == 0 {
        assert_eq!(common::get(&mut c, "/headers", &[]).await.0, 200);
        assert!(
            Instant::now() < deadline,
            "requests never moved to the new upstream"
        );
    }
    // A broken file: refused, logged, and the old config keeps serving.
    std::fs::write(&path, "[upstream]\nservers = [\"not an address\"]\n").unwrap();
    hup();
    until("error", 1.0).await;
    assert_eq!(common::get(&mut c, "/headers", &[]).await.0, 200);
    logged("config reload refused").await;
    logged("upstream.servers").await;
}

/// `check-config` on a file; returns (exit success, stdout+stderr).
fn check_config(text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(BIN)
        .args(["check-config", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    let mut all = String::from_utf8_lossy(&out.stdout).into_owned();
    all.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), all)
}

#[test]
fn check_config_accepts_the_shipped_example() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/usher.toml")).unwrap();
    let (ok, out) = check_config(&text);
    assert!(ok, "{out}");
    assert!(out.contains(": ok"), "{out}");
}

#[test]
fn check_config_rejects_bad_configs_naming_the_field() {
    let up = "[upstream]\nservers = [\"127.0.0.1:8000\"]\n";
    // (config text, what the message must contain)
    let cases: Vec<(String, &[&str])> = vec![
        (
            format!("[listen]\npublic = \"0.0.0.0:99999\"\n{up}"),
            &["listen.public", "\"0.0.0.0:99999\" is not a socket address"],
        ),
        (
            format!("[listen]\nadmin = \"localhost\"\n{up}"),
            &["listen.admin", "not a socket address"],
        ),
        (
            format!("[listen]\npublic = \"127.0.0.1:7000\"\nadmin = \"127.0.0.1:7000\"\n{up}"),
            &["listen.admin", "own port"],
        ),
        (
            format!("[listen]\nplain = \"nowhere\"\n{up}"),
            &["listen.plain", "not a socket address"],
        ),
        (
            format!("[listen]\nhttps_port = 0\n{up}"),
            &["listen.https_port"],
        ),
        (
            format!("[tls]\ncert = \"/nonexistent/cert.pem\"\n{up}"),
            &["tls.key", "missing while tls.cert is set"],
        ),
        (
            format!("[tls]\ncert = \"/nonexistent/c.pem\"\nkey = \"/nonexistent/k.pem\"\n{up}"),
            &["tls.cert", "does not exist"],
        ),
        (
            format!("[tls]\nmin_version = \"1.0\"\n{up}"),
            &["tls.min_version", "\"1.2\" or \"1.3\""],
        ),
        (
            format!("[tls]\nself_signed_names = []\n{up}"),
            &["tls.self_signed_names", "at least one name"],
        ),
        (
            "[upstream]\nservers = []\n".into(),
            &["upstream.servers", "at least one upstream"],
        ),
        (
            "[upstream]\nservers = [\"backend\"]\n".into(),
            &["upstream.servers[0]", "no port"],
        ),
        (
            "[upstream]\nservers = [\"https://backend:443\"]\n".into(),
            &["upstream.servers[0]", "http://host:port"],
        ),
        (
            "[upstream]\nservers = [\"127.0.0.1:8000\"]\nconnect_timeout = \"soon\"\n".into(),
            &["upstream.connect_timeout", "not a duration"],
        ),
        (
            "[upstream]\nservers = [\"127.0.0.1:8000\"]\nresponse_timeout = \"0s\"\n".into(),
            &["upstream.response_timeout", "is zero"],
        ),
        (
            "[upstream]\nservers = [\"127.0.0.1:8000\"]\nhost_header = \"bad host!\"\n".into(),
            &["upstream.host_header", "\"preserve\""],
        ),
        (
            format!("{up}[limits]\nmax_header_bytes = \"12 parsecs\"\n"),
            &["limits.max_header_bytes", "not a size"],
        ),
        (
            format!("{up}[limits]\nmax_header_bytes = \"100\"\n"),
            &["limits.max_header_bytes", "minimum"],
        ),
        (
            format!("{up}[limits]\nmax_connections = 0\n"),
            &["limits.max_connections"],
        ),
        (
            format!("{up}[limits]\nmax_headers = 5000\n"),
            &["limits.max_headers", "1 to 1000"],
        ),
        (
            format!("{up}[forwarding]\ntrusted_proxies = [\"10.0.0.0/33\"]\n"),
            &["forwarding.trusted_proxies[0]", "CIDR"],
        ),
        (
            format!("{up}[log]\nformat = \"xml\"\n"),
            &["log.format", "\"human\" or \"json\""],
        ),
        (format!("{up}[log]\nlevel = \"[[[\"\n"), &["log.level"]),
        (
            format!("{up}[runtime]\nworkers = 100000\n"),
            &["runtime.workers"],
        ),
        (
            format!("{up}[[rooms]]\nname = \"bad name!\"\n"),
            &["rooms[0].name", "not a room name"],
        ),
        (
            format!("{up}[[rooms]]\nname = \"a\"\n[[rooms]]\nname = \"a\"\n"),
            &["rooms[1].name", "earlier room"],
        ),
        (
            format!("{up}[[rooms]]\nname = \"a\"\nmode = \"fast\"\n"),
            &["rooms[0].mode", "\"queue\""],
        ),
        (
            format!("{up}[[rooms]]\nname = \"a\"\nmax_active = 0\n"),
            &["rooms[0].max_active"],
        ),
        (
            format!("{up}[[rooms]]\nname = \"a\"\npaths = [\"book\"]\n"),
            &["rooms[0].paths[0]", "start with '/'"],
        ),
        (
            format!("{up}[[rooms]]\nname = \"a\"\nsession_idle = \"2h\"\nsession_max = \"1h\"\n"),
            &["rooms[0].session_max", "shorter than session_idle"],
        ),
        (
            format!("{up}[[bypass]]\nmethods = [\"GE T\"]\n"),
            &["bypass[0].methods"],
        ),
        (
            format!("{up}[[bypass]]\n"),
            &["bypass[0]", "matches every request"],
        ),
        (
            format!("{up}[routing]\ndefault_action = \"maybe\"\n"),
            &["routing.default_action"],
        ),
        (
            format!("{up}[state]\non_store_failure = \"ajar\"\n"),
            &["state.on_store_failure", "\"closed\""],
        ),
        (
            format!("{up}[passes]\nsigning_key = \"/nonexistent/k.key\"\n"),
            &["passes.signing_key", "usher keygen"],
        ),
        (format!("{up}[[rooms]]\nname = \"a\"\nprequeue_start = \"soon\"\nstart = \"2026-09-14T07:00:00+09:00\"\n"), &["rooms[0].prequeue_start", "RFC 3339"]),
        (format!("{up}[[rooms]]\nname = \"a\"\nstart = \"2026-09-14T07:00:00+09:00\"\n"), &["rooms[0].start", "both prequeue_start and start"]),
        (format!("{up}[[rooms]]\nname = \"a\"\nprequeue_start = \"2026-09-14T08:00:00+09:00\"\nstart = \"2026-09-14T07:00:00+09:00\"\n"), &["rooms[0].prequeue_start", "after start"]),
        (format!("{up}[admin]\ntoken = \"short\"\n"), &["admin.token", "16 characters"]),
        (format!("{up}[store]\nurl = \"mongodb://x\"\n"), &["store.url", "\"memory\"", "redis://"]),
        (format!("{up}[store]\nurl = \"redis://127.0.0.1:6379/0\"\n"), &["passes.signing_key", "state.ticket_secret", "same"]),
        (format!("{up}[store]\nurl = \"redis://127.0.0.1:6379/0\"\nlease = \"0s\"\nkey_prefix = \"a b\"\n"), &["store.lease", "store.key_prefix"]),
        (format!("{up}[state]\nticket_secret = \"/nonexistent/ticket.key\"\n"), &["state.ticket_secret", "32 random bytes"]),
        (format!("{up}[abuse]\nchallenge_bits = 40\n"), &["abuse.challenge_bits", "phone"]),
        (format!("{up}[abuse]\nchallenge_bits = 16\nchallenge_max_bits = 10\n"), &["abuse.challenge_max_bits"]),
        (format!("{up}[abuse]\ntickets_window = \"forever\"\n"), &["abuse.tickets_window", "not a duration"]),
        (format!("{up}[limits]\nmax_uri_bytes = \"64KiB\"\n"), &["limits.max_uri_bytes", "max_header_bytes"]),
        // Schema errors from the parser name the field too.
        (
            format!("{up}[limits]\nmax_conections = 10\n"),
            &["unknown field `max_conections`"],
        ),
        (
            format!("{up}[limits]\nmax_connections = \"lots\"\n"),
            &["max_connections"],
        ),
        ("[upstream\nservers = 1".into(), &["config is not valid"]),
    ];
    assert!(cases.len() >= 10);
    for (text, wants) in &cases {
        let (ok, out) = check_config(text);
        assert!(!ok, "accepted:\n{text}");
        for w in *wants {
            assert!(out.contains(w), "message for\n{text}\nlacks {w:?}:\n{out}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_have_one_line_per_request_with_its_span() {
    // One worker: also covers the current-thread runtime the binary picks for it.
    let proxy = Harness::builder()
        .line("runtime", "workers = 1")
        .binary_with(&["--log-format", "json"], "info")
        .start()
        .await;
    let mut c = proxy.h1().await;
    let (status, _, _) =
        common::get(&mut c, "/headers?x=1", &[("x-request-id", "log-test-1")]).await;
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    let line = loop {
        let found = proxy.nodes[0]
            .process()
            .log
            .lock()
            .unwrap()
            .iter()
            .find(|l| l.contains("log-test-1"))
            .cloned();
        if let Some(l) = found {
            break l;
        }
        assert!(Instant::now() < deadline, "no access log line");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let v: serde_json::Value = serde_json::from_str(&line).expect("log line is JSON");
    assert_eq!(v["target"], "usher::access");
    let span = &v["span"];
    assert_eq!(span["id"], "log-test-1");
    assert_eq!(span["method"], "GET");
    assert_eq!(span["path"], "/headers");
    assert_eq!(span["status"], 200);
    assert!(span["ms"].as_f64().unwrap() >= 0.0);
}
