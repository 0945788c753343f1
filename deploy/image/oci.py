#!/usr/bin/env python3
"""Writes the controller's container image as an OCI image layout, without a container daemon.

usage: oci.py --out DIR --tag TAG [--binary PATH]... [--ca-bundle FILE] [--created RFC3339]
              [--gzip-level N] [--allow-dynamic] [--source URL] [--revision REV]

One layer per platform, on no base image (scratch), holding only:
  /usr/local/bin/kubectl-dedicated_registry   the static binary (0755)
  /etc/passwd, /etc/group                     root and nonroot (65532), as distroless has them
  /etc/ssl/certs/ca-certificates.crt          the CA bundle (the host's, e.g. Debian's)
  /tmp                                        1777, the mount point of the Pod's emptyDir
The config runs as 65532:65532, with the entrypoint `kubectl-dedicated_registry controller`, so a
read-only root filesystem is enough. The architecture is read from each binary's ELF header; a
binary that asks for a dynamic loader (PT_INTERP) is refused unless --allow-dynamic (its image
could not start on scratch). Everything is reproducible: sorted entries, owner 0, mtime of
--created, gzip without a name or time. DIR/index.json names an image index (one manifest per
platform) under the annotation org.opencontainers.image.ref.name=TAG, as `skopeo copy --all
oci:DIR:TAG docker://...` expects. Prints one JSON line: the digests and sizes written.
"""

import argparse
import datetime
import gzip
import hashlib
import io
import json
import os
import struct
import sys
import tarfile

BINARY_PATH = "usr/local/bin/kubectl-dedicated_registry"
UID = 65532
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
# ELF e_machine -> OCI architecture.
MACHINES = {62: "amd64", 183: "arm64", 40: "arm", 21: "ppc64le", 22: "s390x"}
PT_INTERP = 3


def die(message):
    print(f"oci.py: {message}", file=sys.stderr)
    sys.exit(1)


def elf_facts(path):
    """(architecture, dynamic) of an ELF executable: e_machine and whether it has PT_INTERP."""
    with open(path, "rb") as f:
        head = f.read(64)
        if len(head) < 64 or head[:4] != b"\x7fELF":
            die(f"{path} is not an ELF executable (Linux binaries only)")
        if head[4] != 2:
            die(f"{path} is a 32-bit ELF; build a 64-bit binary")
        endian = "<" if head[5] == 1 else ">"
        machine = struct.unpack(endian + "H", head[18:20])[0]
        phoff = struct.unpack(endian + "Q", head[32:40])[0]
        phentsize, phnum = struct.unpack(endian + "HH", head[54:58])
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    dynamic = any(
        struct.unpack(endian + "I", table[i * phentsize : i * phentsize + 4])[0] == PT_INTERP
        for i in range(phnum)
    )
    arch = MACHINES.get(machine)
    if arch is None:
        die(f"{path}: unknown ELF machine {machine}")
    return arch, dynamic


def tar_entry(tar, name, mtime, mode, data=None, kind=tarfile.REGTYPE, owner=0):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = mtime
    info.uid = info.gid = owner
    info.uname = info.gname = ""
    if data is None:
        tar.addfile(info)
    else:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def layer_tar(binary, ca_bundle, mtime):
    """The uncompressed layer: directories first, then files, all sorted."""
    passwd = b"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
    group = b"root:x:0:\nnonroot:x:65532:\n"
    with open(binary, "rb") as f:
        exe = f.read()
    with open(ca_bundle, "rb") as f:
        cas = f.read()
    dirs = {"etc": 0o755, "etc/ssl": 0o755, "etc/ssl/certs": 0o755, "home": 0o755,
            "home/nonroot": 0o700, "tmp": 0o1777, "usr": 0o755, "usr/local": 0o755,
            "usr/local/bin": 0o755}
    files = {"etc/group": (group, 0o644), "etc/passwd": (passwd, 0o644),
             "etc/ssl/certs/ca-certificates.crt": (cas, 0o644), BINARY_PATH: (exe, 0o755)}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(dirs):
            # home/nonroot belongs to nonroot, as in distroless.
            owner = UID if name == "home/nonroot" else 0
            tar_entry(tar, name + "/", mtime, dirs[name], kind=tarfile.DIRTYPE, owner=owner)
        for name in sorted(files):
            data, mode = files[name]
            tar_entry(tar, name, mtime, mode, data)
    return buf.getvalue()


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Layout:
    def __init__(self, out):
        self.out = out
        os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(out, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)

    def blob(self, data, media_type, **extra):
        d = digest(data)
        with open(os.path.join(self.out, "blobs", "sha256", d[7:]), "wb") as f:
            f.write(data)
        return dict({"mediaType": media_type, "digest": d, "size": len(data)}, **extra)


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def image(layout, args, binary, created, mtime, labels):
    arch, dynamic = elf_facts(binary)
    if dynamic and not args.allow_dynamic:
        die(f"{binary} is dynamically linked (it names an ELF interpreter) and would not start on "
            "a scratch image; build it for x86_64-unknown-linux-musl (or aarch64-...-musl)")
    raw = layer_tar(binary, args.ca_bundle, mtime)
    packed = gzip.compress(raw, compresslevel=args.gzip_level, mtime=0)
    layer = layout.blob(packed, MEDIA_LAYER)
    config = {
        "created": created,
        "architecture": arch,
        "os": "linux",
        "config": {
            "User": f"{UID}:{UID}",
            "Entrypoint": ["/" + BINARY_PATH, "controller"],
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin",
                    "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt", "HOME=/home/nonroot"],
            "WorkingDir": "/home/nonroot",
            "ExposedPorts": {"8080/tcp": {}},
            "Labels": labels,
        },
        "rootfs": {"type": "layers", "diff_ids": [digest(raw)]},
        "history": [{"created": created, "created_by": "deploy/image/oci.py"}],
    }
    config_desc = layout.blob(canonical(config), MEDIA_CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": MEDIA_MANIFEST, "config": config_desc,
                "layers": [layer], "annotations": labels}
    platform = {"architecture": arch, "os": "linux"}
    desc = layout.blob(canonical(manifest), MEDIA_MANIFEST, platform=platform)
    facts = {"architecture": arch, "manifest": desc["digest"], "config": config_desc["digest"],
             "layer": layer["digest"], "layer_size": layer["size"], "diff_id": digest(raw),
             "uncompressed_size": len(raw), "dynamic": dynamic}
    return desc, facts


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--tag", required=True)
    p.add_argument("--binary", action="append", required=True)
    p.add_argument("--ca-bundle", default="/etc/ssl/certs/ca-certificates.crt")
    p.add_argument("--created", default="1970-01-01T00:00:00Z")
    p.add_argument("--gzip-level", type=int, default=9)
    p.add_argument("--allow-dynamic", action="store_true")
    p.add_argument("--source", default="")
    p.add_argument("--revision", default="")
    p.add_argument("--version", default="")
    args = p.parse_args()
    if not os.path.isfile(args.ca_bundle):
        die(f"CA bundle {args.ca_bundle} not found (Debian: apt-get install ca-certificates)")
    try:
        when = datetime.datetime.strptime(args.created, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        die(f"--created {args.created!r} is not of the form 2026-01-31T12:00:00Z")
    mtime = int(when.replace(tzinfo=datetime.timezone.utc).timestamp())
    labels = {"org.opencontainers.image.title": "kubectl-dedicated-registry",
              "org.opencontainers.image.description":
                  "In-cluster controller of kubectl-dedicated-registry: keeps every selected "
                  "namespace supplied with the registry pull secret",
              "org.opencontainers.image.licenses": "Apache-2.0",
              "org.opencontainers.image.created": args.created}
    for key, value in (("source", args.source), ("revision", args.revision),
                       ("version", args.version)):
        if value:
            labels["org.opencontainers.image." + key] = value
    layout = Layout(args.out)
    descs, facts = [], []
    for binary in args.binary:
        desc, fact = image(layout, args, binary, args.created, mtime, labels)
        if any(f["architecture"] == fact["architecture"] for f in facts):
            die(f"two binaries for {fact['architecture']}")
        descs.append(desc)
        facts.append(fact)
    index = {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": descs,
             "annotations": labels}
    index_desc = layout.blob(canonical(index), MEDIA_INDEX)
    index_desc["annotations"] = {"org.opencontainers.image.ref.name": args.tag}
    with open(os.path.join(args.out, "index.json"), "wb") as f:
        f.write(canonical({"schemaVersion": 2, "mediaType": MEDIA_INDEX,
                           "manifests": [index_desc]}))
    print(json.dumps({"index": index_desc["digest"], "tag": args.tag, "images": facts}))


if __name__ == "__main__":
    main()
