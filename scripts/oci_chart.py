#!/usr/bin/env python3
"""Write a packaged Helm chart (helm package's .tgz) as an OCI artifact in an image layout, with the
media types Helm's OCI support uses (config application/vnd.cncf.helm.config.v1+json: Chart.yaml's
metadata as JSON; one layer application/vnd.cncf.helm.chart.content.v1.tar+gzip: the .tgz), tagged with
the chart's version. Push it with any OCI tool beside the image. Deterministic.

    oci_chart.py --out DIR CHART.tgz
"""

import argparse
import hashlib
import io
import json
import os
import tarfile

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.cncf.helm.config.v1+json"
MT_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


def chart_metadata(tgz):
    """Chart.yaml's top-level scalar and list fields (the chart's own file is simple YAML)."""
    with tarfile.open(tgz, "r:gz") as tar:
        name = next(m for m in tar.getnames() if m.count("/") == 1 and m.endswith("/Chart.yaml"))
        text = tar.extractfile(name).read().decode()
    meta, key = {}, None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            key, _, value = line.partition(":")
            value = value.strip()
            if value.startswith("[") and value.endswith("]"):
                meta[key] = [v.strip() for v in value[1:-1].split(",") if v.strip()]
            elif value in (">-", ">", "|", "|-", ""):
                meta[key] = ""  # a folded or literal block, or a nested map: its lines follow
            else:
                meta[key] = value.strip('"')
        elif key is not None and isinstance(meta.get(key), str):
            meta[key] = (meta[key] + " " + line.strip()).strip()
    return meta


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("chart")
    a = ap.parse_args()
    os.makedirs(os.path.join(a.out, "blobs", "sha256"), exist_ok=True)

    def blob(data):
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(a.out, "blobs", "sha256", digest), "wb") as f:
            f.write(data)
        return {"digest": "sha256:" + digest, "size": len(data)}

    meta = chart_metadata(a.chart)
    config = json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()
    with open(a.chart, "rb") as f:
        content = f.read()
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_MANIFEST,
        "config": {"mediaType": MT_CONFIG, **blob(config)},
        "layers": [{"mediaType": MT_CHART, **blob(content)}],
        "annotations": {"org.opencontainers.image.title": meta["name"], "org.opencontainers.image.version": meta["version"]},
    }
    mbytes = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    mdesc = {"mediaType": MT_MANIFEST, **blob(mbytes), "annotations": {"org.opencontainers.image.ref.name": meta["version"]}}
    with open(os.path.join(a.out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [mdesc]}, f, sort_keys=True)
    with open(os.path.join(a.out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)


if __name__ == "__main__":
    main()
