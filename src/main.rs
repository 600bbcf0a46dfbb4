//! The `usher` binary: subcommands over the library. Errors become `anyhow` only here.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use usher::config::{LogFormat, Settings};

#[derive(Parser)]
#[command(
    name = "usher",
    version,
    about = "A virtual waiting room: a TLS reverse proxy that admits visitors at the pace your site can take."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the waiting-room proxy.
    Proxy {
        /// Configuration file.
        #[arg(short, long, default_value = "config/usher.toml")]
        config: PathBuf,
        /// Log format (overrides `log.format`).
        #[arg(long, value_enum)]
        log_format: Option<LogFormatArg>,
    },
    /// Run the bundled booking backend (the reference site behind the proxy).
    Backend {
        /// Configuration file.
        #[arg(short, long, default_value = "config/backend.toml")]
        config: PathBuf,
        /// Log format.
        #[arg(long, value_enum)]
        log_format: Option<LogFormatArg>,
    },
    /// Run the proxy and the booking site together with embedded defaults (no setup).
    Demo {
        /// Where the demo keeps its keys, database and queue state.
        #[arg(long, default_value = "data")]
        dir: PathBuf,
        /// Public HTTPS address.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: std::net::SocketAddr,
        /// Admin address (metrics, health).
        #[arg(long, default_value = "127.0.0.1:9090")]
        admin: std::net::SocketAddr,
        /// Visitors inside the site at once. The default keeps the line easy to see by
        /// hand; raise it (and --per-minute) to rehearse a rush with `usher rush`.
        #[arg(long, default_value_t = usher::demo::DemoOptions::default().max_active)]
        max_active: u32,
        /// Visitors let in per minute at most.
        #[arg(long, default_value_t = usher::demo::DemoOptions::default().new_per_minute)]
        per_minute: u32,
    },
    /// Validate a configuration file and report every problem; exits non-zero if any.
    CheckConfig {
        /// Configuration file.
        #[arg(short, long, default_value = "config/usher.toml")]
        config: PathBuf,
    },
    /// Rehearse a rush: N simulated visitors walk the real flow through a running usher.
    Rush(RushArgs),
    /// Generate an Ed25519 key pair for signing passes.
    Keygen {
        /// Directory to write `<name>.key` and `<name>.pub` into.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// Key id, also the file name stem.
        #[arg(long, default_value = "pass-1")]
        name: String,
    },
}

#[derive(clap::Args)]
struct RushArgs {
    /// The usher to rehearse against, `https://HOST:PORT`.
    #[arg(long)]
    target: String,
    /// How many visitors.
    #[arg(long)]
    visitors: u64,
    /// How they arrive: `spike:T` (all within T) or `ramp:T` (a rate rising over T).
    #[arg(long, default_value = "spike:10s")]
    arrival: usher::rush::Arrival,
    /// The event id to book.
    #[arg(long, conflicts_with = "event_query")]
    event: Option<i64>,
    /// Book the first event a search for this finds.
    #[arg(long, default_value = "coupon")]
    event_query: String,
    /// Coupons or seats per booking.
    #[arg(long, default_value_t = 1)]
    quantity: u32,
    /// Share of visitors who abandon the line.
    #[arg(long, default_value_t = 0.05)]
    abandon: f64,
    /// Share who drop their connection while waiting and come back.
    #[arg(long, default_value_t = 0.05)]
    reconnect: f64,
    /// Share who poll from two tabs.
    #[arg(long, default_value_t = 0.02)]
    tabs: f64,
    /// Accept any certificate (for the demo, `--ca data/demo-cert.pem` is better).
    #[arg(long, conflicts_with = "ca")]
    insecure: bool,
    /// Trust the certificates in this PEM file.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Where to write the HTML report.
    #[arg(long, default_value = "rush-report.html")]
    report: PathBuf,
    /// Print the summary as JSON (and no progress bar).
    #[arg(long)]
    json: bool,
    /// Connection pools the visitors share (with HTTP/2, one connection each).
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// The longest the run may take from the first arrival.
    #[arg(long, default_value = "120s", value_parser = humantime::parse_duration)]
    timeout: std::time::Duration,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormatArg {
    Human,
    Json,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Proxy { config, log_format } => run_proxy(config, log_format),
        Command::Backend { config, log_format } => run_backend(config, log_format),
        Command::Demo {
            dir,
            listen,
            admin,
            max_active,
            per_minute,
        } => run_demo(
            dir,
            listen,
            admin,
            usher::demo::DemoOptions {
                max_active,
                new_per_minute: per_minute,
                ..Default::default()
            },
        ),
        Command::Rush(args) => run_rush(args),
        Command::CheckConfig { config } => match Settings::load(&config) {
            Ok(_) => {
                println!("{}: ok", config.display());
                Ok(())
            }
            Err(e) => {
                eprintln!("{}: {e}", config.display());
                std::process::exit(1);
            }
        },
        Command::Keygen { out, name } => {
            let pair = usher::pass::keys::generate()?;
            let (private, public) = usher::pass::keys::write(&out, &name, &pair)?;
            println!(
                "wrote {} (secret: keep it on the proxy) and {} (public: give it to anything that verifies passes)",
                private.display(),
                public.display()
            );
            Ok(())
        }
    }
}

fn run_proxy(config: PathBuf, log_format: Option<LogFormatArg>) -> anyhow::Result<()> {
    let settings =
        Settings::load(&config).with_context(|| format!("loading {}", config.display()))?;
    let format = match log_format {
        Some(LogFormatArg::Json) => LogFormat::Json,
        Some(LogFormatArg::Human) => LogFormat::Human,
        None => settings.log.format,
    };
    // Dropping the guard flushes buffered log lines, so it lives until the end.
    let _log_guard = init_logging(format, &settings.log.level);
    // One worker needs no work-stealing scheduler: a current-thread runtime avoids its
    // cross-thread wake-ups.
    let mut rt = if settings.workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if settings.workers > 1 {
            b.worker_threads(settings.workers);
        }
        b
    };
    rt.enable_all();
    rt.build()?.block_on(async {
        // Catch SIGHUP before listening: its default action would end the process.
        let hup = usher::reload::hangup();
        let mut running = usher::server::start(&settings).await?;
        running.watch(config.clone(), hup);
        wait_for_signal().await?;
        tracing::info!("shutdown requested");
        running.shutdown().await;
        Ok(())
    })
}

fn run_demo(
    dir: PathBuf,
    listen: std::net::SocketAddr,
    admin: std::net::SocketAddr,
    options: usher::demo::DemoOptions,
) -> anyhow::Result<()> {
    let _log_guard = init_logging(LogFormat::Human, "info,usher::access=warn");
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let demo = usher::demo::start_with(&dir, listen, admin, options).await?;
            let port = demo.proxy.public_addr.port();
            println!();
            println!("  usher demo is running");
            println!("    site (through the waiting room): https://localhost:{port}/");
            println!(
                "      (a self-signed certificate, also in {}: accept the browser's warning)",
                demo.certificate_file.display()
            );
            println!(
                "    metrics and health:              http://{}/metrics",
                demo.proxy.admin_addr
            );
            println!(
                "    room: \"booking\", auto mode, {} visitors inside at once, {} let in a minute",
                options.max_active, options.new_per_minute
            );
            println!(
                "      — open a few private windows to see the line. Data: {}",
                dir.display()
            );
            println!("  Ctrl-C stops it.");
            println!();
            wait_for_signal().await?;
            demo.proxy.shutdown().await;
            demo.backend.stop();
            Ok(())
        })
}

fn run_rush(a: RushArgs) -> anyhow::Result<()> {
    use std::io::IsTerminal;
    use usher::rush::{Config, EventChoice, Trust};
    let trust = match (a.insecure, a.ca) {
        (true, _) => {
            eprintln!("warning: --insecure: any certificate is accepted; rehearse only against a server you control");
            Trust::Insecure
        }
        (false, Some(ca)) => Trust::Ca(ca),
        (false, None) => Trust::System,
    };
    let config = Config {
        target: a.target,
        visitors: a.visitors,
        arrival: a.arrival,
        event: a
            .event
            .map_or(EventChoice::Query(a.event_query), EventChoice::Id),
        quantity: a.quantity,
        abandon: a.abandon,
        reconnect: a.reconnect,
        tabs: a.tabs,
        trust,
        connections: a.connections,
        timeout: a.timeout,
        progress: !a.json && std::io::stdout().is_terminal(),
    };
    let summary = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(usher::rush::run(config))?;
    usher::rush::write_report(&summary, &a.report)?;
    if a.json {
        println!("{}", summary.json());
    } else {
        print!("{}", summary.text());
        println!("  report: {}", a.report.display());
    }
    if summary.oversold.is_some_and(|o| o > 0) {
        eprintln!("OVERSOLD: the site sold more than it has");
        std::process::exit(1);
    }
    Ok(())
}

fn run_backend(config: PathBuf, log_format: Option<LogFormatArg>) -> anyhow::Result<()> {
    let settings = usher::config::backend::BackendSettings::load(&config)
        .with_context(|| format!("loading {}", config.display()))?;
    let format = match log_format {
        Some(LogFormatArg::Json) => LogFormat::Json,
        _ => LogFormat::Human,
    };
    let _log_guard = init_logging(format, "info");
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let running = usher::backend::start(&settings).await?;
            wait_for_signal().await?;
            tracing::info!("shutdown requested");
            running.stop();
            Ok(())
        })
}

fn init_logging(format: LogFormat, level: &str) -> tracing_appender::non_blocking::WorkerGuard {
    use tracing_subscriber::EnvFilter;
    // RUST_LOG wins so an operator can raise verbosity without editing the file.
    // rustls warns once per connection about clients that send an IP address as SNI
    // (load tools do); that is noise, not news.
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(format!("rustls=error,{level}")))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        // Under a log flood, keep serving and drop lines rather than block requests.
        .lossy(true)
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        LogFormat::Human => builder.init(),
    }
    guard
}

async fn wait_for_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await?;
    Ok(())
}
