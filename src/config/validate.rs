//! Turns a [`FileConfig`] into [`Settings`], collecting every problem with its field name.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::file::FileConfig;
use super::{
    ConfigError, FieldError, ForwardingSettings, HostHeader, Limits, ListenSettings, LogFormat,
    LogSettings, Settings, TlsSettings, TlsVersion, UpstreamSettings,
};

/// Collects field errors while values are converted.
#[derive(Default)]
pub(super) struct Problems(Vec<FieldError>);

impl Problems {
    pub(super) fn push(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.to_string(),
            message: message.into(),
        });
    }

    /// A socket address; on error the problem is recorded and a placeholder returned
    /// (any recorded problem fails validation, so placeholders never run).
    fn addr(&mut self, field: &str, value: &str) -> SocketAddr {
        value.parse().unwrap_or_else(|_| {
            self.push(field, format!("{value:?} is not a socket address (write IP:PORT with a port from 0 to 65535, e.g. \"0.0.0.0:8443\" or \"[::]:8443\")"));
            SocketAddr::from(([0, 0, 0, 0], 0))
        })
    }

    /// A positive duration of at most a day, written with a unit.
    pub(super) fn duration(&mut self, field: &str, value: &str) -> Duration {
        let problem = match humantime::parse_duration(value) {
            Ok(d) if d.is_zero() => format!("{value:?} is zero; give a positive duration such as \"5s\""),
            Ok(d) if d > Duration::from_secs(24 * 3600) => {
                format!("{value:?} is longer than a day; give a duration such as \"30s\"")
            }
            Ok(d) => return d,
            Err(_) => format!("{value:?} is not a duration (write a number with a unit: \"250ms\", \"10s\", \"5m\")"),
        };
        self.push(field, problem);
        Duration::from_secs(1)
    }

    /// A byte size of at least `min`, written with a unit.
    fn size(&mut self, field: &str, value: &str, min: u64) -> u64 {
        let problem = match value.parse::<bytesize::ByteSize>() {
            Ok(b) if b.as_u64() < min => format!("{value:?} is below the minimum of {min} bytes"),
            Ok(b) => return b.as_u64(),
            Err(_) => format!(
                "{value:?} is not a size (write a number with a unit: \"16KiB\", \"10MiB\")"
            ),
        };
        self.push(field, problem);
        min
    }
}

/// Validate every section; all problems are reported together.
pub(super) fn validate(file: FileConfig) -> Result<Settings, ConfigError> {
    let mut p = Problems::default();

    // [listen]
    let public = p.addr("listen.public", &file.listen.public);
    let admin = p.addr("listen.admin", &file.listen.admin);
    let plain = file
        .listen
        .plain
        .as_deref()
        .map(|v| p.addr("listen.plain", v));
    if public == admin && public.port() != 0 {
        p.push("listen.admin", format!("{admin} is also listen.public; give the admin listener its own port (default \"127.0.0.1:9090\")"));
    }
    if plain == Some(public) && public.port() != 0 {
        p.push("listen.plain", format!("{public} is also listen.public; the redirect listener needs its own port (usually 80)"));
    }
    if file.listen.https_port == Some(0) {
        p.push("listen.https_port", "0 is not a port visitors can reach; give the public HTTPS port (usually 443) or remove the line");
    }

    // [tls]
    let min_version = match file.tls.min_version.as_str() {
        "1.2" => TlsVersion::V1_2,
        "1.3" => TlsVersion::V1_3,
        other => {
            p.push(
                "tls.min_version",
                format!("{other:?} is not supported; write \"1.2\" or \"1.3\""),
            );
            TlsVersion::V1_2
        }
    };
    let tls = match (&file.tls.cert, &file.tls.key) {
        (Some(cert), Some(key)) => {
            for (field, path) in [("tls.cert", cert), ("tls.key", key)] {
                if !std::path::Path::new(path).is_file() {
                    p.push(field, format!("{path:?} does not exist or is not a file; give the path of a PEM file, or remove tls.cert and tls.key for a self-signed certificate"));
                }
            }
            TlsSettings::Files {
                cert: PathBuf::from(cert),
                key: PathBuf::from(key),
                min_version,
            }
        }
        (cert, key) => {
            if cert.is_some() {
                p.push(
                    "tls.key",
                    "missing while tls.cert is set; give the private key's PEM file too",
                );
            }
            if key.is_some() {
                p.push(
                    "tls.cert",
                    "missing while tls.key is set; give the certificate chain's PEM file too",
                );
            }
            if file.tls.self_signed_names.is_empty() {
                p.push("tls.self_signed_names", "is empty; give at least one name (e.g. [\"localhost\"]) or set tls.cert and tls.key");
            }
            TlsSettings::SelfSigned {
                names: file.tls.self_signed_names.clone(),
                min_version,
            }
        }
    };

    // [upstream]
    let u = &file.upstream;
    if u.servers.is_empty() {
        p.push(
            "upstream.servers",
            "is empty; list at least one upstream such as [\"127.0.0.1:8000\"]",
        );
    }
    let mut servers = Vec::new();
    for (i, raw) in u.servers.iter().enumerate() {
        match parse_upstream(raw) {
            Ok(a) => servers.push(a),
            Err(msg) => p.push(&format!("upstream.servers[{i}]"), msg),
        }
    }
    let host = match u.host_header.as_str() {
        "preserve" => HostHeader::Preserve,
        "rewrite" => HostHeader::Rewrite,
        literal => match literal.parse::<http::uri::Authority>() {
            Ok(a) if !literal.is_empty() && a.as_str() == literal => {
                match http::HeaderValue::from_str(literal) {
                    Ok(v) => HostHeader::Fixed(v),
                    Err(_) => HostHeader::Preserve,
                }
            }
            _ => {
                p.push("upstream.host_header", format!("{literal:?} is neither \"preserve\", \"rewrite\" nor a host name like \"backend.internal\""));
                HostHeader::Preserve
            }
        },
    };
    let upstream = UpstreamSettings {
        servers,
        host,
        connect_timeout: p.duration("upstream.connect_timeout", &u.connect_timeout),
        response_timeout: p.duration("upstream.response_timeout", &u.response_timeout),
        read_timeout: p.duration("upstream.read_timeout", &u.read_timeout),
        fail_timeout: p.duration("upstream.fail_timeout", &u.fail_timeout),
        pool_idle_timeout: p.duration("upstream.pool_idle_timeout", &u.pool_idle_timeout),
        pool_max_idle_per_host: u.pool_max_idle_per_host,
    };

    // [limits]
    let l = &file.limits;
    let max_header_bytes = p.size("limits.max_header_bytes", &l.max_header_bytes, 1024);
    if max_header_bytes > 1024 * 1024 {
        p.push(
            "limits.max_header_bytes",
            "is over 1MiB; request heads that large are an attack, use e.g. \"16KiB\"",
        );
    }
    let max_uri_bytes = p.size("limits.max_uri_bytes", &l.max_uri_bytes, 256);
    if max_uri_bytes > max_header_bytes {
        p.push(
            "limits.max_uri_bytes",
            "is larger than limits.max_header_bytes, which the request line counts towards; lower it (default \"8KiB\")",
        );
    }
    if l.max_headers == 0 || l.max_headers > 1000 {
        p.push(
            "limits.max_headers",
            format!(
                "{} is out of range; give 1 to 1000 (default 100)",
                l.max_headers
            ),
        );
    }
    if l.max_connections == 0 {
        p.push(
            "limits.max_connections",
            "0 would refuse every visitor; give a positive number (default 20000)",
        );
    }
    if l.h2_max_concurrent_streams == 0 {
        p.push(
            "limits.h2_max_concurrent_streams",
            "0 would stall every HTTP/2 client; give a positive number (default 128)",
        );
    }
    let limits = Limits {
        tls_handshake_timeout: p.duration("limits.tls_handshake_timeout", &l.tls_handshake_timeout),
        header_read_timeout: p.duration("limits.header_read_timeout", &l.header_read_timeout),
        max_header_bytes: max_header_bytes as usize,
        max_headers: l.max_headers,
        max_uri_bytes: max_uri_bytes as usize,
        client_body_timeout: p.duration("limits.client_body_timeout", &l.client_body_timeout),
        max_body_bytes: p.size("limits.max_body_bytes", &l.max_body_bytes, 0),
        max_connections: l.max_connections,
        h2_max_concurrent_streams: l.h2_max_concurrent_streams,
        shutdown_grace: p.duration("limits.shutdown_grace", &l.shutdown_grace),
        send_timeout: p.duration("limits.send_timeout", &l.send_timeout),
    };

    // [forwarding]
    let mut trusted_proxies = Vec::new();
    for (i, raw) in file.forwarding.trusted_proxies.iter().enumerate() {
        match raw
            .parse::<ipnet::IpNet>()
            .or_else(|_| raw.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        {
            Ok(n) => trusted_proxies.push(n),
            Err(_) => p.push(
                &format!("forwarding.trusted_proxies[{i}]"),
                format!(
                    "{raw:?} is not an IP address or CIDR (e.g. \"10.0.0.0/8\" or \"192.0.2.7\")"
                ),
            ),
        }
    }

    // [runtime]
    if file.runtime.workers > 1024 {
        p.push(
            "runtime.workers",
            format!(
                "{} threads is too many; use 0 (one per core) or a small number",
                file.runtime.workers
            ),
        );
    }

    // [log]
    let format = match file.log.format.as_str() {
        "human" => LogFormat::Human,
        "json" => LogFormat::Json,
        other => {
            p.push(
                "log.format",
                format!("{other:?} is not a log format; write \"human\" or \"json\""),
            );
            LogFormat::Human
        }
    };
    if tracing_subscriber::EnvFilter::try_new(&file.log.level).is_err() {
        p.push(
            "log.level",
            format!(
                "{:?} is not a log filter; write e.g. \"info\" or \"usher=debug,info\"",
                file.log.level
            ),
        );
    }

    let mut waiting_room = super::rooms::validate(
        &mut p,
        &file.rooms,
        &file.bypass,
        &file.routing,
        &file.passes,
        &file.state,
        &file.store,
    );
    waiting_room.abuse = super::abuse::validate(&mut p, &file.abuse);

    // [admin]
    let admin_token = std::env::var("USHER_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .or_else(|| (!file.admin.token.is_empty()).then(|| file.admin.token.clone()));
    if admin_token.as_ref().is_some_and(|t| t.len() < 16) {
        p.push(
            "admin.token",
            "is shorter than 16 characters; use a long random token (e.g. `openssl rand -hex 24`)",
        );
    }

    // [page]
    let page = match (file.page.template.as_str(), file.page.strings.as_str()) {
        ("", "") => None,
        (t, s) if !t.is_empty() && !s.is_empty() => {
            for (field, path) in [("page.template", t), ("page.strings", s)] {
                if !std::path::Path::new(path).is_file() {
                    p.push(field, format!("{path:?} does not exist; copy static/waiting.html and static/waiting-strings.toml as a start"));
                }
            }
            Some((PathBuf::from(t), PathBuf::from(s)))
        }
        _ => {
            p.push(
                "page",
                "set both template and strings, or neither for the built-in page",
            );
            None
        }
    };

    // The placeholder values used after a problem never escape: any problem fails here.
    if !p.0.is_empty() {
        return Err(ConfigError::Invalid(p.0));
    }
    Ok(Settings {
        listen: ListenSettings {
            public,
            plain,
            https_port: file.listen.https_port,
            admin,
        },
        tls,
        upstream,
        limits,
        forwarding: ForwardingSettings { trusted_proxies },
        workers: file.runtime.workers,
        waiting_room,
        admin_token,
        page,
        log: LogSettings {
            format,
            level: file.log.level.clone(),
        },
    })
}

/// Accepts `host:port` or `http://host:port` (no path); returns the authority.
pub(super) fn parse_upstream(raw: &str) -> Result<http::uri::Authority, String> {
    let rest = if let Some(r) = raw.strip_prefix("http://") {
        r
    } else if raw.starts_with("https://") {
        return Err(format!("{raw:?}: TLS to upstreams is not supported yet; use \"http://host:port\" on a private network"));
    } else if raw.contains("://") {
        return Err(format!(
            "{raw:?} has an unknown scheme; write \"host:port\" or \"http://host:port\""
        ));
    } else {
        raw
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') {
        return Err(format!(
            "{raw:?} has a path; give only \"host:port\" (paths are passed through unchanged)"
        ));
    }
    match rest.parse::<http::uri::Authority>() {
        Ok(a) if a.port_u16().is_some() && !a.host().is_empty() => Ok(a),
        Ok(_) => Err(format!(
            "{raw:?} has no port; write \"host:port\", e.g. \"127.0.0.1:8000\""
        )),
        Err(_) => Err(format!(
            "{raw:?} is not host:port; write e.g. \"127.0.0.1:8000\""
        )),
    }
}
