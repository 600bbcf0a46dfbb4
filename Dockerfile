# usher: multi-stage build. The runtime image holds one static-ish binary, the example
# config and static files, and runs as a non-root user.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY static ./static
COPY config ./config
RUN cargo build --release --locked --bin usher && strip target/release/usher

FROM gcr.io/distroless/cc-debian12:nonroot
WORKDIR /app
COPY --from=build /src/target/release/usher /usr/local/bin/usher
COPY config /etc/usher
COPY static /app/static
USER nonroot:nonroot
EXPOSE 8443 9090
# The admin listener must be reachable by the orchestrator's probes: bind it on all
# interfaces inside the container (set listen.admin = "0.0.0.0:9090" in the mounted config).
ENTRYPOINT ["/usr/local/bin/usher"]
CMD ["proxy", "-c", "/etc/usher/usher.toml"]
