# Build
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY migrations migrations
COPY templates templates
COPY static static
RUN cargo build --release --locked --bin gptauth

# Run
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/gptauth --create-home gptauth
COPY --from=build /src/target/release/gptauth /usr/local/bin/gptauth
USER gptauth
WORKDIR /var/lib/gptauth
ENV GPTAUTH_BIND=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["gptauth"]
CMD ["serve"]
