//! The one way tests start the proxy: a typed [`Builder`] for its config (a waiting room,
//! upstreams, settings, raw TOML) and how it runs (in this process, as the
//! real binary, or as `usher demo` with its booking site). The running [`Harness`] knows
//! its addresses, makes TLS clients that trust it, and stops what it started when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use usher::demo::DemoOptions;
use usher::gate::Gate;
use usher::pass::{KeyRing, Passes};

use super::process::Proc;
use super::upstream::{self, Upstream};
use super::visitor::Visitor;
use super::{Pki, TlsClient};

/// What a proxy's config points at: a PKI, a pass signing key on disk (so tests can forge
/// with the real key) and a state directory.
pub struct Setup {
    /// The CA and the proxy's certificate; the pass keys are written next to them.
    pub pki: Pki,
    /// The pass signing key (`pass-1`), PEM.
    pub key_pem: String,
    /// The proxy's `state.dir`.
    pub state_dir: tempfile::TempDir,
}

impl Setup {
    /// A new PKI, a new pass key pair written to its directory, an empty state dir.
    pub fn new() -> Self {
        let pki = Pki::new();
        let pair = usher::pass::keys::generate().unwrap();
        usher::pass::keys::write(pki.dir.path(), "pass-1", &pair).unwrap();
        Self {
            pki,
            key_pem: pair.private_pem,
            state_dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A pass service holding the proxy's own signing key (for forgeries that only
    /// someone with the key could make — expired, wrong room, future).
    pub fn insider(&self, kid: &str, issuer: &str) -> Passes {
        Passes::new(KeyRing::from_pem(kid, &self.key_pem, &[]).unwrap(), issuer)
    }
}

/// Where the config comes from.
#[derive(Clone)]
enum Source {
    /// Rendered from the builder's settings.
    Generated,
    /// `usher demo` (its own config), with these room settings or the demo's own.
    Demo(Option<DemoOptions>),
}

/// How each node runs.
#[derive(Clone)]
enum Run {
    /// `usher::server::start` in this process; with `watch`, from a file it reloads.
    InProcess { watch: bool },
    /// The real binary as a child process, with these extra arguments and `RUST_LOG`.
    Binary { args: Vec<String>, rust_log: String },
}

/// Describes a proxy to start: [`Harness::builder`], then settings, then
/// [`Builder::start`]. By default: listeners on ephemeral loopback ports, a certificate
/// from the [`Setup`]'s PKI, and a fresh test upstream behind it; the config is rendered
/// from the settings as `[table]`s, then the rooms, then any raw [`Builder::config_toml`].
#[derive(Clone)]
pub struct Builder {
    setup: Arc<Setup>,
    source: Source,
    /// `upstream.servers`; `None`: a test upstream is spawned and used.
    servers: Option<Vec<String>>,
    /// The `booking` room's extra lines, when there is a waiting room.
    room: Option<Vec<String>>,
    lines: Vec<(String, String)>,
    append: String,
    self_signed: bool,
    run: Run,
    nodes: usize,
}

impl Builder {
    /// A waiting room: room `booking` guards every path (with these `room` lines added),
    /// room `other` at `/other` is open; passes are signed with the [`Setup`]'s key and
    /// state is kept in its state dir.
    pub fn room(mut self, room: &[&str]) -> Self {
        self.room = Some(room.iter().map(|l| l.to_string()).collect());
        self
    }

    /// Proxies to `addr` (someone else's upstream) instead of spawning one.
    pub fn upstream(self, addr: SocketAddr) -> Self {
        self.servers(&[addr.to_string()])
    }

    /// `upstream.servers` as given (several upstreams, `http://` forms, dead ones).
    pub fn servers(mut self, servers: &[String]) -> Self {
        self.servers = Some(servers.to_vec());
        self
    }

    /// Adds `line` to `[table]`, e.g. `("limits", "max_body_bytes = \"4KiB\"")`.
    pub fn line(mut self, table: &str, line: &str) -> Self {
        self.lines.push((table.to_string(), line.to_string()));
        self
    }

    /// Adds each of `lines` to `[table]`.
    pub fn lines(self, table: &str, lines: &[&str]) -> Self {
        lines.iter().fold(self, |b, l| b.line(table, l))
    }

    /// Appends raw TOML after everything else (e.g. `[[bypass]]` or another room).
    pub fn config_toml(mut self, text: &str) -> Self {
        self.append.push_str(text);
        self
    }

    /// No certificate from the PKI: the proxy makes itself a self-signed one, which
    /// clients trust.
    pub fn self_signed(mut self) -> Self {
        self.self_signed = true;
        self
    }

    /// Runs the real binary (`usher proxy -c FILE`) instead, access log off.
    pub fn binary(self) -> Self {
        self.binary_with(&[], "info,usher::access=off")
    }

    /// Runs the real binary with extra `args` and `RUST_LOG=rust_log`.
    pub fn binary_with(mut self, args: &[&str], rust_log: &str) -> Self {
        self.run = Run::Binary {
            args: args.iter().map(|a| a.to_string()).collect(),
            rust_log: rust_log.to_string(),
        };
        self
    }

    /// Starts from a config file and watches it (live reload), in this process.
    pub fn watch(mut self) -> Self {
        self.run = Run::InProcess { watch: true };
        self
    }

    /// Starts `n` nodes on the same config (a cluster shares its store through it).
    pub fn nodes(mut self, n: usize) -> Self {
        self.nodes = n;
        self
    }

    /// `usher demo` instead: the proxy and the booking site, in a temp dir.
    pub fn demo(mut self) -> Self {
        self.source = Source::Demo(None);
        self
    }

    /// `usher demo` with these room settings.
    pub fn demo_with(mut self, options: DemoOptions) -> Self {
        self.source = Source::Demo(Some(options));
        self
    }

    /// The keys and directories the config will point at (known before the start).
    pub fn setup(&self) -> &Setup {
        &self.setup
    }

    /// The config text for `servers`.
    fn render(&self, servers: &[String]) -> String {
        let pki = &self.setup.pki;
        let quoted = |p: &Path| format!("{:?}", p.display().to_string());
        let mut tables: Vec<(String, Vec<String>)> = vec![(
            "listen".into(),
            vec![
                "public = \"127.0.0.1:0\"".into(),
                "admin = \"127.0.0.1:0\"".into(),
            ],
        )];
        if !self.self_signed {
            tables.push((
                "tls".into(),
                vec![
                    format!("cert = {}", quoted(&pki.cert)),
                    format!("key = {}", quoted(&pki.key)),
                ],
            ));
        }
        let servers: Vec<String> = servers.iter().map(|s| format!("{s:?}")).collect();
        tables.push((
            "upstream".into(),
            vec![format!("servers = [{}]", servers.join(", "))],
        ));
        tables.push(("log".into(), vec![]));
        let mut lines = Vec::new();
        if self.room.is_some() {
            let key = pki.dir.path().join("pass-1.key");
            lines.push(("passes".into(), format!("signing_key = {}", quoted(&key))));
            lines.push(("passes".into(), "issuer = \"usher-test\"".into()));
            let dir = self.setup.state_dir.path();
            lines.push(("state".into(), format!("dir = {}", quoted(dir))));
        }
        lines.extend(self.lines.iter().cloned());
        for (table, line) in lines {
            match tables.iter_mut().find(|(t, _)| *t == table) {
                Some((_, lines)) => lines.push(line),
                None => tables.push((table, vec![line])),
            }
        }
        let mut text: String = tables
            .into_iter()
            .map(|(t, lines)| format!("[{t}]\n{}\n", lines.join("\n")))
            .collect();
        if let Some(room) = &self.room {
            text.push_str("[[rooms]]\nname = \"booking\"\npaths = [\"/\"]\n");
            for line in room {
                text.push_str(line);
                text.push('\n');
            }
            text.push_str("[[rooms]]\nname = \"other\"\npaths = [\"/other\"]\nmode = \"open\"\n");
        }
        text.push_str(&self.append);
        text
    }

    /// Starts the proxy (and its upstream, or the demo's site).
    pub async fn start(self) -> Harness {
        if let Source::Demo(options) = self.source {
            return self.start_demo(options).await;
        }
        let (up, servers) = match &self.servers {
            Some(servers) => (None, servers.clone()),
            None => {
                let up = upstream::spawn().await;
                let servers = vec![up.addr.to_string()];
                (Some(up), servers)
            }
        };
        let text = self.render(&servers);
        let mut nodes = Vec::new();
        for _ in 0..self.nodes {
            nodes.push(Node::start(&self.run, &text).await);
        }
        let client = if !self.self_signed {
            self.setup.pki.client.clone()
        } else {
            TlsClient::trusting(nodes[0].running().certificate.clone())
        };
        Harness {
            nodes,
            up,
            client,
            servers,
            text,
            demo: None,
            builder: self,
        }
    }

    async fn start_demo(self, options: Option<DemoOptions>) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let any = "127.0.0.1:0".parse().unwrap();
        let demo = match options {
            None => usher::demo::start(dir.path(), any, any).await,
            Some(o) => usher::demo::start_with(dir.path(), any, any, o).await,
        }
        .unwrap();
        let usher::demo::Demo {
            proxy,
            backend,
            certificate_file,
        } = demo;
        let client = TlsClient::trusting(proxy.certificate.clone());
        Harness {
            nodes: vec![Node::in_process(proxy, None)],
            up: None,
            client,
            servers: vec![backend.addr.to_string()],
            text: String::new(),
            demo: Some(Demo {
                backend: Some(backend),
                certificate_file,
                dir,
            }),
            builder: self,
        }
    }
}

/// A running proxy (one or more nodes on one config) and what it was started with.
/// Dropping it stops everything it started (use [`Harness::shutdown`] for a graceful stop).
pub struct Harness {
    /// The nodes, in start order; most tests have one. Removing one stops it.
    pub nodes: Vec<Node>,
    up: Option<Upstream>,
    client: TlsClient,
    servers: Vec<String>,
    text: String,
    demo: Option<Demo>,
    builder: Builder,
}

/// The booking site `usher demo` started next to its proxy.
struct Demo {
    backend: Option<usher::backend::Running>,
    certificate_file: PathBuf,
    dir: tempfile::TempDir,
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(backend) = self.demo.as_mut().and_then(|d| d.backend.take()) {
            backend.stop();
        }
    }
}

impl Harness {
    /// A builder with its own [`Setup`].
    pub fn builder() -> Builder {
        Builder {
            setup: Arc::new(Setup::new()),
            source: Source::Generated,
            servers: None,
            room: None,
            lines: Vec::new(),
            append: String::new(),
            self_signed: false,
            run: Run::InProcess { watch: false },
            nodes: 1,
        }
    }

    /// A plain proxy in front of a fresh test upstream.
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    /// The first node's public (TLS) address.
    pub fn public(&self) -> SocketAddr {
        self.nodes[0].public
    }

    /// The first node's admin address.
    pub fn admin(&self) -> SocketAddr {
        self.nodes[0].admin
    }

    /// The first node's plain-HTTP (redirect) address.
    pub fn plain(&self) -> SocketAddr {
        self.nodes[0].plain.expect("no listen.plain configured")
    }

    /// The first node's waiting room.
    pub fn gate(&self) -> Arc<Gate> {
        self.nodes[0].gate()
    }

    /// The first node's metrics as Prometheus text.
    pub fn metrics(&self) -> String {
        self.nodes[0].metrics()
    }

    /// The test upstream the builder spawned.
    pub fn up(&self) -> &Upstream {
        self.up
            .as_ref()
            .expect("no test upstream: the builder was given one")
    }

    /// The keys and directories the config points at.
    pub fn setup(&self) -> &Setup {
        &self.builder.setup
    }

    /// The PKI the proxy's certificate comes from.
    pub fn pki(&self) -> &Pki {
        &self.builder.setup.pki
    }

    /// TLS clients that trust this proxy's certificate.
    pub fn client(&self) -> &TlsClient {
        &self.client
    }

    /// A TLS client config that trusts this proxy, offering `alpn`.
    pub fn client_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        self.client.config(alpn)
    }

    /// A TLS connection to the first node, offering `alpn`.
    pub async fn connect(
        &self,
        alpn: &[&[u8]],
    ) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
        self.client.connect(self.public(), alpn).await
    }

    /// An HTTP/1.1 connection to the first node.
    pub async fn h1(&self) -> hyper::client::conn::http1::SendRequest<super::TBody> {
        self.client.h1(self.public()).await
    }

    /// An HTTP/2 connection to the first node.
    pub async fn h2(&self) -> hyper::client::conn::http2::SendRequest<super::TBody> {
        self.client.h2(self.public()).await
    }

    /// A new visitor (own connection, empty cookie jar) at the first node.
    pub async fn visitor(&self) -> Visitor {
        self.visitor_at(self.public()).await
    }

    /// A new visitor at `addr` (another node).
    pub async fn visitor_at(&self, addr: SocketAddr) -> Visitor {
        Visitor::new(&self.client, addr).await
    }

    /// The config this harness would render with `change` applied to its builder, e.g.
    /// to write an edited file: `h.config_for(|b| b.room(&[..]))`.
    pub fn config_for(&self, change: impl FnOnce(Builder) -> Builder) -> String {
        let b = change(self.builder.clone());
        let servers = b.servers.clone().unwrap_or_else(|| self.servers.clone());
        b.render(&servers)
    }

    /// The first node's config file (with `watch` or `binary`).
    pub fn config_path(&self) -> PathBuf {
        self.nodes[0].config_path()
    }

    /// The demo's data directory (database, keys).
    pub fn dir(&self) -> &Path {
        self.demo.as_ref().expect("not a demo").dir.path()
    }

    /// The demo's booking site.
    pub fn backend_addr(&self) -> SocketAddr {
        self.demo
            .as_ref()
            .and_then(|d| d.backend.as_ref())
            .expect("not a demo")
            .addr
    }

    /// The demo proxy's certificate as a PEM file.
    pub fn certificate_file(&self) -> &Path {
        &self.demo.as_ref().expect("not a demo").certificate_file
    }

    /// Stops the first node without its shutdown (a child process is SIGKILLed), then
    /// starts it again on the same config.
    pub async fn kill_and_restart(&mut self) {
        drop(self.nodes.remove(0));
        let node = Node::start(&self.builder.run, &self.text).await;
        self.nodes.insert(0, node);
    }

    /// The health probe: a normal GET of `path` through the first node, on a fresh
    /// connection, is answered 200 by the upstream itself (its hit counter moves by one).
    pub async fn assert_serves(&self, path: &str) {
        let before = self.up().hits();
        let mut c = self.h1().await;
        let (status, _, body) = super::get(&mut c, path, &[]).await;
        assert_eq!(
            (status.as_u16(), body.as_str()),
            (200, "hello from upstream"),
            "{path}: the proxy no longer serves"
        );
        assert_eq!(
            self.up().hits(),
            before + 1,
            "{path} did not reach the upstream"
        );
    }

    /// Shuts every node down gracefully (in-flight requests finish), then the demo's site.
    pub async fn shutdown(mut self) {
        for node in std::mem::take(&mut self.nodes) {
            node.shutdown().await;
        }
    }
}

/// How a node runs.
enum Proxy {
    InProcess(usher::server::Running),
    Process(Proc),
}

/// One running proxy. Dropping it stops it: a child process is killed, an in-process
/// proxy's listeners and loops are aborted with its task set.
pub struct Node {
    /// Public (TLS) address.
    pub public: SocketAddr,
    /// Admin address.
    pub admin: SocketAddr,
    /// Plain-HTTP (redirect) address, when configured.
    pub plain: Option<SocketAddr>,
    proxy: Proxy,
    /// Holds the config file, for a child process or a watched config.
    dir: Option<tempfile::TempDir>,
}

impl Node {
    async fn start(run: &Run, text: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        match run {
            Run::InProcess { watch: false } => {
                let settings = usher::config::Settings::from_toml(text).unwrap();
                let running = usher::server::start(&settings).await.unwrap();
                Self::in_process(running, None)
            }
            Run::InProcess { watch: true } => {
                let path = dir.path().join("usher.toml");
                std::fs::write(&path, text).unwrap();
                let settings = usher::config::Settings::load(&path).unwrap();
                let mut running = usher::server::start(&settings).await.unwrap();
                running.watch(path, usher::reload::hangup());
                Self::in_process(running, Some(dir))
            }
            Run::Binary { args, rust_log } => {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let p = Proc::start_with(text, dir.path(), &args, rust_log);
                Self {
                    public: p.public,
                    admin: p.admin,
                    plain: None,
                    proxy: Proxy::Process(p),
                    dir: Some(dir),
                }
            }
        }
    }

    fn in_process(running: usher::server::Running, dir: Option<tempfile::TempDir>) -> Self {
        Self {
            public: running.public_addr,
            admin: running.admin_addr,
            plain: running.plain_addr,
            proxy: Proxy::InProcess(running),
            dir,
        }
    }

    /// The proxy, when it runs in this process.
    pub fn running(&self) -> &usher::server::Running {
        match &self.proxy {
            Proxy::InProcess(r) => r,
            Proxy::Process(_) => panic!("this node is a child process"),
        }
    }

    /// The child process, when it runs as the binary.
    pub fn process(&self) -> &Proc {
        match &self.proxy {
            Proxy::Process(p) => p,
            Proxy::InProcess(_) => panic!("this node runs in this process"),
        }
    }

    /// The child process, mutably (to wait for it).
    pub fn process_mut(&mut self) -> &mut Proc {
        match &mut self.proxy {
            Proxy::Process(p) => p,
            Proxy::InProcess(_) => panic!("this node runs in this process"),
        }
    }

    /// Its waiting room.
    pub fn gate(&self) -> Arc<Gate> {
        self.running().gate.clone().expect("no rooms configured")
    }

    /// Its metrics as Prometheus text.
    pub fn metrics(&self) -> String {
        self.running().metrics.render()
    }

    /// Its config file.
    pub fn config_path(&self) -> PathBuf {
        let dir = self.dir.as_ref().expect("started from text, not a file");
        dir.path().join("usher.toml")
    }

    /// Stops gracefully when in this process (in-flight requests finish); a child
    /// process is killed.
    pub async fn shutdown(self) {
        match self.proxy {
            Proxy::InProcess(r) => r.shutdown().await,
            Proxy::Process(p) => drop(p),
        }
    }
}
