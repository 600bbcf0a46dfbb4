//! The real `usher` binary as a child process, for tests that need a process boundary
//! (memory, signals, kill -9).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_usher");

/// A proxy process; killed on drop.
pub struct Proc {
    pub child: Child,
    pub public: SocketAddr,
    pub admin: SocketAddr,
    /// Every stderr line after the "listening" line.
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// Writes `config_text` to `dir/usher.toml` and runs `usher proxy -c` on it with
    /// `args` and `RUST_LOG=rust_log`; returns once it says where it listens.
    pub fn start_with(
        config_text: &str,
        dir: &std::path::Path,
        args: &[&str],
        rust_log: &str,
    ) -> Self {
        let path = dir.join("usher.toml");
        std::fs::write(&path, config_text).unwrap();
        let mut child = Command::new(BIN)
            .args(["proxy", "-c"])
            .arg(&path)
            .args(args)
            .env("RUST_LOG", rust_log)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let (public, admin) = loop {
            let line = lines
                .next()
                .expect("proxy exited before listening")
                .unwrap();
            if line.contains("usher proxy listening") {
                let field = |name: &str| -> SocketAddr {
                    // Human format: name=ADDR; JSON format: "name":"ADDR".
                    let (start, end) = match line.find(&format!("{name}=")) {
                        Some(i) => (i + name.len() + 1, ' '),
                        None => (
                            line.find(&format!("\"{name}\":\"")).unwrap() + name.len() + 4,
                            '"',
                        ),
                    };
                    line[start..].split(end).next().unwrap().parse().unwrap()
                };
                break (field("public"), field("admin"));
            }
        };
        // Keep draining stderr so the child never blocks on a full pipe.
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self {
            child,
            public,
            admin,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident memory (VmHWM) in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap()
            .parse()
            .unwrap()
    }
}
