# Static (musl) release binary on a distroless base, non-root.
# Build: docker build -t kafka-advertiser:0.1.0 .
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends musl-tools cmake \
    && rm -rf /var/lib/apt/lists/* \
    && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY . .
RUN cargo build --locked --release --target x86_64-unknown-linux-musl --bin kafka-advertiser

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/target/x86_64-unknown-linux-musl/release/kafka-advertiser /usr/local/bin/kafka-advertiser
USER 65532:65532
EXPOSE 8443 8080
ENTRYPOINT ["kafka-advertiser", "serve"]
