//! A throwaway `redis-server` for the Redis store's tests: started on a free loopback
//! port without persistence (or with an fsynced append-only file), in a temp directory,
//! killed on drop. A missing `redis-server` fails the test with what to install.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::config::store::RedisOptions;
use crate::room::RoomSettings;
use crate::store::redis::RedisStore;

/// A throwaway redis-server, killed on drop.
pub(super) struct RedisServer {
    child: Option<Child>,
    port: u16,
    aof: bool,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// An empty Redis without persistence.
    pub(super) fn start() -> Self {
        Self::start_with(false)
    }

    /// An empty Redis; with `aof`, every write is fsynced to an append-only file.
    pub(super) fn start_with(aof: bool) -> Self {
        let mut server = Self {
            child: None,
            port: 0,
            aof,
            dir: tempfile::tempdir().expect("temp dir"),
        };
        for _ in 0..10 {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            server.port = listener.local_addr().expect("port").port();
            drop(listener);
            if server.spawn() {
                return server;
            }
        }
        panic!("redis-server did not start on any free port");
    }

    /// Starts redis-server on `self.port`; false if it did not come up (port taken).
    fn spawn(&mut self) -> bool {
        let aof = if self.aof { "yes" } else { "no" };
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", aof, "--appendfsync", "always"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "redis-server is not installed: the Redis store tests need it \
                 (apt-get install redis-server)"
            ),
            Err(e) => panic!("cannot start redis-server: {e}"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() {
                return false;
            }
            if self.answers() {
                self.child = Some(child);
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// True when the server on our port is ours (it names our directory).
    fn answers(&self) -> bool {
        let addr = ([127, 0, 0, 1], self.port).into();
        let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 1024];
        s.write_all(b"CONFIG GET dir\r\n").is_ok()
            && s.read(&mut buf).is_ok_and(|n| {
                String::from_utf8_lossy(&buf[..n])
                    .contains(self.dir.path().to_string_lossy().as_ref())
            })
    }

    pub(super) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A store (a proxy node) on this server.
    pub(super) async fn node(&self, s: RoomSettings, lease: Duration) -> RedisStore {
        let opts = RedisOptions {
            lease,
            ..RedisOptions::default()
        };
        RedisStore::connect(&self.url(), &[("r".into(), s)], opts)
            .await
            .expect("connect")
    }

    pub(super) async fn store(&self, s: RoomSettings) -> RedisStore {
        self.node(s, Duration::from_secs(1)).await
    }

    /// `kill -9`.
    pub(super) fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port (and directory).
    pub(super) fn restart(&mut self) {
        self.kill();
        for _ in 0..50 {
            if self.spawn() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("redis-server did not restart on port {}", self.port);
    }

    /// Sends a signal (`-STOP` freezes it, `-CONT` thaws it).
    pub(super) fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        assert!(Command::new("kill")
            .args([sig, &pid])
            .status()
            .is_ok_and(|s| s.success()));
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
