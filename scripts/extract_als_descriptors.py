"""Extract the Envoy ALS v3 descriptors from `xds-protos` into a FileDescriptorSet.

Why: `xds-protos` ships a stale copy of `opentelemetry/proto/**` that overwrites the modules of
`opentelemetry-proto` when both are installed in one environment. The bridge therefore never
installs `xds-protos` at run time; it loads this descriptor set into a private descriptor pool.

Run it in a throw-away virtual environment that has `xds-protos` installed:

    python -m venv /tmp/xds && /tmp/xds/bin/pip install xds-protos
    /tmp/xds/bin/python scripts/extract_als_descriptors.py bridge/receivers/envoy_als/als_descriptors.binpb
"""

from __future__ import annotations

import sys
from pathlib import Path

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import FileDescriptor

ROOT_FILE = "envoy/service/accesslog/v3/als.proto"


def _closure(root: FileDescriptor) -> list[FileDescriptor]:
    """Files in dependency order (each file after everything it imports)."""
    ordered: list[FileDescriptor] = []
    seen: set[str] = set()

    def visit(fd: FileDescriptor) -> None:
        if fd.name in seen:
            return
        seen.add(fd.name)
        for dep in fd.dependencies:
            visit(dep)
        ordered.append(fd)

    visit(root)
    return ordered


def main(out: str) -> None:
    from envoy.service.accesslog.v3 import als_pb2

    files = _closure(als_pb2.DESCRIPTOR)
    fds = descriptor_pb2.FileDescriptorSet()
    for fd in files:
        proto = fds.file.add()
        fd.CopyToProto(proto)
    Path(out).write_bytes(fds.SerializeToString(deterministic=True))
    print(f"wrote {len(files)} files, {Path(out).stat().st_size} bytes to {out}")


if __name__ == "__main__":
    main(sys.argv[1])
