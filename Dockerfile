# syntax=docker/dockerfile:1
# Multi-stage build: compile in the Rust image, run in a slim Debian image
# as an unprivileged user. No libpq is needed: PostgreSQL is reached through
# diesel-async's pure-Rust driver, and TLS to the 42 API through rustls.

# The web client: built with Node, served by the binary from WEB_DIR.
FROM node:20-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/index.html web/tsconfig.json web/vite.config.ts ./
COPY web/src ./src
RUN npm run build

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, so they are cached while only the sources change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && echo '' > src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src ./src
COPY migrations ./migrations
COPY diesel.toml ./
# Migrations are embedded in the binary at compile time.
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin transcendence

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/transcendence --create-home transcendence
COPY --from=build /src/target/release/transcendence /usr/local/bin/transcendence
COPY --from=web /web/dist /usr/share/transcendence/web
USER transcendence
WORKDIR /var/lib/transcendence
ENV BIND_ADDR=0.0.0.0:8000 \
    DATA_DIR=/var/lib/transcendence/data \
    WEB_DIR=/usr/share/transcendence/web \
    LOG_FORMAT=json
EXPOSE 8000
# Creates the database if needed and applies migrations before serving.
ENTRYPOINT ["/usr/local/bin/transcendence"]
CMD ["serve"]
