# The same layout as scripts/image.sh (which needs no container engine and builds both platforms):
# a static musl binary at /usr/local/bin, /etc/passwd and /etc/group with the nonroot user 65532, no
# shell, user 65532, entrypoint `kafka-advertiser serve`.
# Build: docker build -t kafka-advertiser:0.2.0 .   (docker buildx: --platform linux/amd64,linux/arm64)
FROM rust:1.95-bookworm AS build
ARG TARGETARCH=amd64
RUN apt-get update && apt-get install -y --no-install-recommends musl-tools python3-pip \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN python3 -m pip install --break-system-packages --only-binary=:all: --require-hashes -r scripts/image-requirements.txt \
    && case "$TARGETARCH" in amd64) t=x86_64-unknown-linux-musl ;; arm64) t=aarch64-unknown-linux-musl ;; *) exit 1 ;; esac \
    && rustup target add "$t" \
    && cargo zigbuild --locked --release --target "$t" --bin kafka-advertiser \
    && mkdir -p /out/usr/local/bin /out/tmp /out/home/nonroot \
    && cp "target/$t/release/kafka-advertiser" /out/usr/local/bin/ \
    && cp -r image/etc /out/etc

FROM scratch
COPY --from=build /out /
USER 65532:65532
WORKDIR /home/nonroot
ENV PATH=/usr/local/bin:/usr/bin:/bin
EXPOSE 8443 8080
LABEL org.opencontainers.image.title=kafka-advertiser
ENTRYPOINT ["/usr/local/bin/kafka-advertiser", "serve"]
