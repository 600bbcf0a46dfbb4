//! The room route matcher (`Gate::route`, on a real `Gate`) for arbitrary rooms, hosts
//! and request paths, after the path normaliser as on the request path:
//! - it picks exactly what the documented rule says: among rooms whose hosts admit the
//!   request's host (case-insensitive, port ignored; no hosts = any host), the longest
//!   prefix matching at a segment boundary (`/book` guards `/book` and `/book/x`, not
//!   `/booking`; `/api/` guards what is under it), the first room on a tie;
//! - every other spelling of the same path, and of the same host, gets the same room —
//!   no detour around the line.
//!
//! Rooms come from the input, are written as a config file, validated and swapped in
//! with `Gate::reload`, as a live reload would.
#![no_main]

use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use usher::gate::Gate;
use usher::path::normalize;
use usher_fuzz::respell;

const ROOMS: usize = 3;

struct Fixture {
    rt: tokio::runtime::Runtime,
    gate: Gate,
    dir: String,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = std::env::temp_dir()
        .join(format!("usher-fuzz-route-{}", std::process::id()))
        .display()
        .to_string();
    let rooms: Vec<Room> = (0..ROOMS)
        .map(|i| Room {
            hosts: vec![],
            paths: vec![format!("/r{i}")],
        })
        .collect();
    let settings = usher::config::Settings::from_toml(&config(&dir, &rooms)).expect("config");
    let metrics = Arc::new(usher::metrics::Metrics::new().expect("metrics"));
    let gate = rt
        .block_on(Gate::new(&settings.waiting_room, metrics))
        .expect("gate");
    // The memory store only writes its state file when asked to; nothing else is needed.
    let _ = std::fs::remove_dir_all(&dir);
    Fixture { rt, gate, dir }
});

struct Room {
    hosts: Vec<String>,
    paths: Vec<String>,
}

struct Request {
    host: Option<String>,
    path: String,
    /// Respelling steps (see `respell`); the first byte also picks which host letters to
    /// upper-case, the second and third a port to add.
    ops: Vec<u8>,
}

/// Input, one item per line: three rooms as `hosts<TAB>paths` (hosts split on `,`, paths
/// on spaces), then requests as `host<TAB>path<TAB>ops` (`-` for no host; `ops` raw bytes).
fn parse(data: &[u8]) -> Option<(Vec<Room>, Vec<Request>)> {
    let text = std::str::from_utf8(data).ok()?;
    let mut lines = text.split('\n');
    let words = |s: &str, sep: char| -> Vec<String> {
        s.split(sep)
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    };
    let mut rooms = Vec::new();
    for _ in 0..ROOMS {
        let line = lines.next().unwrap_or("");
        let (hosts, paths) = line.split_once('\t').unwrap_or(("", line));
        rooms.push(Room {
            hosts: words(hosts, ','),
            paths: words(paths, ' '),
        });
    }
    let requests = lines
        .take(4)
        .map(|line| {
            let mut f = line.splitn(3, '\t');
            let host = f.next().unwrap_or("");
            let path = f.next().unwrap_or("").to_string();
            let ops = f.next().unwrap_or("").as_bytes().to_vec();
            Request {
                host: (host != "-").then(|| host.to_string()),
                path,
                ops,
            }
        })
        .collect();
    Some((rooms, requests))
}

fn config(dir: &str, rooms: &[Room]) -> String {
    let mut file = toml::Table::new();
    let mut t = |name: &str, v: toml::Value| {
        file.insert(name.into(), v);
    };
    t(
        "upstream",
        toml::Value::Table(toml::Table::from_iter([(
            "servers".to_string(),
            toml::Value::Array(vec!["127.0.0.1:9".into()]),
        )])),
    );
    t(
        "state",
        toml::Value::Table(toml::Table::from_iter([("dir".to_string(), dir.into())])),
    );
    let rooms = rooms
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let strings =
                |v: &[String]| toml::Value::Array(v.iter().map(|s| s.as_str().into()).collect());
            toml::Value::Table(toml::Table::from_iter([
                ("name".to_string(), format!("r{i}").into()),
                ("hosts".to_string(), strings(&r.hosts)),
                ("paths".to_string(), strings(&r.paths)),
            ]))
        })
        .collect();
    t("rooms", toml::Value::Array(rooms));
    toml::to_string(&file).expect("toml")
}

/// The request host as rooms compare it: lower case, without a `:port`.
fn host_key(host: &str) -> String {
    let host = host.to_ascii_lowercase();
    match host.rfind(':') {
        Some(i) if host[i + 1..].bytes().all(|b| b.is_ascii_digit()) => host[..i].to_string(),
        _ => host,
    }
}

/// The documented rule, stated room by room.
fn expected(rooms: &[(Vec<String>, Vec<String>)], host: Option<&str>, path: &str) -> Option<usize> {
    let host = host.map(host_key);
    let mut best: Option<(usize, usize)> = None;
    for (i, (hosts, prefixes)) in rooms.iter().enumerate() {
        let host_ok = hosts.is_empty() || host.as_ref().is_some_and(|h| hosts.contains(h));
        if !host_ok {
            continue;
        }
        let longest = prefixes
            .iter()
            .filter(|p| {
                let under = if p.ends_with('/') {
                    p.to_string()
                } else {
                    format!("{p}/")
                };
                path == p.as_str() || path.starts_with(&under)
            })
            .map(|p| p.len())
            .max();
        if let Some(len) = longest {
            if best.is_none_or(|(l, _)| len > l) {
                best = Some((len, i));
            }
        }
    }
    best.map(|(_, i)| i)
}

fn normal(path: &str) -> Option<String> {
    match normalize(path) {
        Ok(Some(n)) => Some(n),
        Ok(None) => Some(path.to_string()),
        Err(_) => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((mut rooms, requests)) = parse(data) else {
        return;
    };
    let fx = &*FIXTURE;
    // Room prefixes as an operator might write them, in any spelling the config accepts
    // (it stores their normal form), and not under /_usher/.
    for (i, r) in rooms.iter_mut().enumerate() {
        r.paths.retain(|p| {
            p.starts_with('/')
                && normal(p).is_some_and(|n| n != "/_usher" && !n.starts_with("/_usher/"))
        });
        r.paths.truncate(4);
        r.hosts.truncate(3);
        if r.paths.is_empty() {
            r.paths.push(format!("/r{i}"));
        }
    }
    let Ok(settings) = usher::config::Settings::from_toml(&config(&fx.dir, &rooms)) else {
        return;
    };
    fx.rt
        .block_on(fx.gate.reload(&settings.waiting_room))
        .expect("reload with the same rooms");
    let table: Vec<(Vec<String>, Vec<String>)> = settings
        .waiting_room
        .rooms
        .iter()
        .map(|r| (r.hosts.clone(), r.paths.clone()))
        .collect();
    for req in &requests {
        let Some(path) = normal(&req.path).filter(|p| p.starts_with('/')) else {
            continue;
        };
        let host = req.host.as_deref();
        let got = fx.gate.route(host, &path);
        assert_eq!(
            got,
            expected(&table, host, &path),
            "route({host:?}, {path:?}) with rooms {table:?}"
        );
        // Same path, other spelling.
        let other = respell(&req.path, &req.ops);
        if let Some(other_path) = normal(&other) {
            assert_eq!(
                fx.gate.route(host, &other_path),
                got,
                "{other:?} (→ {other_path:?}) routes apart from {:?} (→ {path:?})",
                req.path
            );
        }
        // Same host, other spelling: letter case and a port.
        if let Some(h) = host.filter(|h| !h.contains(':')) {
            let mut spelled: String = h
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if req.ops.first().copied().unwrap_or(0) >> (i % 8) & 1 == 1 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            if let [_, hi, lo, ..] = req.ops[..] {
                spelled.push_str(&format!(":{}", u16::from_be_bytes([hi, lo])));
            }
            assert_eq!(
                fx.gate.route(Some(&spelled), &path),
                got,
                "host {spelled:?} routes apart from {h:?}"
            );
        }
    }
});
