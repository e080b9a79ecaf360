#!/usr/bin/env python3
"""Write a multi-arch OCI image layout for kafka-advertiser from static binaries, without a
container engine: one layer per platform (the binary at /usr/local/bin, /etc/passwd and /etc/group
with the nonroot user 65532; no shell), a config (user 65532, entrypoint `kafka-advertiser serve`,
OCI labels), a manifest per platform and an image index. Deterministic: the same binaries give the
same digests (file times are SOURCE_DATE_EPOCH, 0 by default).

    oci_image.py --out DIR --version V --revision R --source URL amd64=PATH arm64=PATH
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def blob(out, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(out, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return "sha256:" + digest


def descriptor(media_type, digest, data, **extra):
    d = {"mediaType": media_type, "digest": digest, "size": len(data)}
    d.update(extra)
    return d


def layer(binary, mtime):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        def add_dir(name):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, mtime
            tar.addfile(info)

        def add_file(name, data, mode):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, mtime
            tar.addfile(info, io.BytesIO(data))

        for d in ["etc", "home", "home/nonroot", "tmp", "usr", "usr/local", "usr/local/bin"]:
            add_dir(d)
        for f in ["passwd", "group"]:
            with open(os.path.join(ROOT, "image", "etc", f), "rb") as src:
                add_file("etc/" + f, src.read(), 0o644)
        with open(binary, "rb") as src:
            add_file("usr/local/bin/kafka-advertiser", src.read(), 0o755)
    tar_bytes = raw.getvalue()
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=mtime, compresslevel=9) as g:
        g.write(tar_bytes)
    return tar_bytes, gz.getvalue()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--version", required=True)
    p.add_argument("--revision", default="unknown")
    p.add_argument("--source", default="")
    p.add_argument("binaries", nargs="+", help="ARCH=PATH (amd64, arm64)")
    a = p.parse_args()
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    os.makedirs(os.path.join(a.out, "blobs", "sha256"), exist_ok=True)
    labels = {
        "org.opencontainers.image.title": "kafka-advertiser",
        "org.opencontainers.image.description": "Externally reachable advertised listeners for Kafka brokers in a StatefulSet",
        "org.opencontainers.image.version": a.version,
        "org.opencontainers.image.revision": a.revision,
        "org.opencontainers.image.licenses": "Apache-2.0",
    }
    if a.source:
        labels["org.opencontainers.image.source"] = a.source
    manifests = []
    for spec in a.binaries:
        arch, path = spec.split("=", 1)
        tar_bytes, gz_bytes = layer(path, mtime)
        layer_digest = blob(a.out, gz_bytes)
        config = {
            "architecture": arch,
            "os": "linux",
            "created": "1970-01-01T00:00:00Z" if mtime == 0 else None,
            "config": {
                "User": "65532:65532",
                "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"],
                "Entrypoint": ["/usr/local/bin/kafka-advertiser", "serve"],
                "ExposedPorts": {"8443/tcp": {}, "8080/tcp": {}},
                "WorkingDir": "/home/nonroot",
                "Labels": labels,
            },
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar_bytes).hexdigest()]},
            "history": [{"created_by": "scripts/image.sh: the static binary, /etc/passwd and /etc/group"}],
        }
        if config["created"] is None:
            del config["created"]
        config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
        config_digest = blob(a.out, config_bytes)
        manifest = {
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "config": descriptor(MT_CONFIG, config_digest, config_bytes),
            "layers": [descriptor(MT_LAYER, layer_digest, gz_bytes)],
            "annotations": labels,
        }
        manifest_bytes = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
        manifests.append(
            descriptor(MT_MANIFEST, blob(a.out, manifest_bytes), manifest_bytes,
                       platform={"architecture": arch, "os": "linux"})
        )
    index = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": manifests, "annotations": labels}
    index_bytes = json.dumps(index, sort_keys=True, separators=(",", ":")).encode()
    index_digest = blob(a.out, index_bytes)
    layout_index = {
        "schemaVersion": 2,
        "mediaType": MT_INDEX,
        "manifests": [descriptor(MT_INDEX, index_digest, index_bytes,
                                 annotations={"org.opencontainers.image.ref.name": a.version})],
    }
    with open(os.path.join(a.out, "index.json"), "w") as f:
        json.dump(layout_index, f, sort_keys=True, indent=2)
    with open(os.path.join(a.out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    print(f"{a.out}: index {index_digest} ({', '.join(m['platform']['architecture'] for m in manifests)})")


if __name__ == "__main__":
    main()
