# usher: multi-stage build.
#
#   docker build -t usher:local .
#   docker run --rm -p 8443:8443 usher:local            # the built-in example config
#   docker run --rm usher:local keygen --out /tmp       # any subcommand: usher <args>
#
# The runtime image is distroless (glibc + libgcc, no shell, no package manager) with one
# binary: usher embeds its pages and static files, links SQLite in, and uses rustls with
# ring, so it needs no OpenSSL and no files besides its config. It runs as uid 65532.

# --- build -----------------------------------------------------------------------------
FROM rust:1-slim-bookworm AS build
WORKDIR /src
# Dependencies first, against stub sources, so that editing src/ does not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked --bin usher \
 && rm -rf src
COPY src ./src
COPY static ./static
# touch: the stubs' build artifacts are newer than the copied sources' timestamps.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --bin usher \
 && strip target/release/usher \
 && mkdir -p /out/var/lib/usher

# --- health-check tool -------------------------------------------------------------------
# usher has no "health" subcommand and distroless has no curl or shell. Debian's statically
# linked busybox (about 2 MB) gives the HEALTHCHECK below a `wget`, and Kubernetes a
# `sleep` for its preStop hook. It is installed as one file under its own name: there is
# no /bin/sh in the image, and no applet is on PATH.
FROM debian:bookworm-slim AS tools
RUN apt-get update \
 && apt-get install -y --no-install-recommends busybox-static \
 && rm -rf /var/lib/apt/lists/*

# --- runtime -----------------------------------------------------------------------------
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/usher /usr/local/bin/usher
COPY --from=tools /bin/busybox /usr/local/bin/busybox
# The example configs, as a starting point (mount your own over /etc/usher).
COPY config /etc/usher
# Reference copies of the waiting page and its strings, for `[page] template`/`strings`
# (the binary embeds the built-in ones).
COPY static/waiting.html static/waiting-strings.toml static/README.md /usr/share/usher/
# State (queue state file, ticket secret; the backend's database): owned by the runtime
# user, so a named volume mounted here starts out writable.
COPY --from=build --chown=65532:65532 /out/var/lib/usher /var/lib/usher
# Relative paths in the example configs ("data", "keys/…") resolve under the state dir.
WORKDIR /var/lib/usher
USER 65532:65532
# 8443: the public TLS listener. 9090: admin (/metrics, /healthz, /readyz, /admin/*) — it
# must listen on 0.0.0.0:9090 inside the container (listen.admin) to be scraped from
# outside; the health check below works either way. 8000: `usher backend`.
EXPOSE 8443 9090 8000
# Liveness of the proxy on the default admin port. `usher backend` answers /healthz on its
# own port: override the check there (deploy/docker-compose.yml does). No `-T`: Debian's
# busybox 1.35 wget crashes with it; --timeout bounds the check instead.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/busybox", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:9090/healthz"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/usher"]
CMD ["proxy", "-c", "/etc/usher/usher.toml"]
