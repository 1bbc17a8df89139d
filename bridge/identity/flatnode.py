"""Istio's FlatNode flatbuffer (`wasm.*_peer`, Istio 1.6 - 1.23) -> `Workload`.

A hand-written reader over the `flatbuffers` runtime's little-endian packers rather than
flatc-generated code: generated readers trust every offset, and this input comes off the
network. Every read is bounds-checked first, so a corrupt, truncated or hostile buffer raises
`PeerMetadataError("flatnode", ...)` and nothing else.

Why it cannot hang or blow up: uoffsets are unsigned, so every string / vector / table
indirection moves forward in the buffer (no cycles); the only loops are over vectors, whose
length is checked against the bytes left and capped at `MAX_VECTOR`; and the buffer itself is
capped at `MAX_BUFFER`.

Schema (istio/proxy `extensions/common/node_info.fbs`): FlatNode slots name=0, namespace=1,
labels=2 ([KeyVal]), owner=3, workload_name=4, platform_metadata=5 ([KeyVal]),
istio_version=6, mesh_id=7, app_containers=8 ([string]), cluster_id=9, instance_ips=10
([string]), identity=11; KeyVal slots key=0, value=1.
"""

from __future__ import annotations

from flatbuffers import encode
from flatbuffers import number_types as N

from bridge.identity.errors import PeerMetadataError
from bridge.identity.metadata import workload_from_metadata
from bridge.identity.workload import IdentitySource, Workload

MAX_BUFFER = 1 << 20  # a real FlatNode is a few hundred bytes; anything this big is not one
MAX_VECTOR = 4096  # labels / IPs / containers per node

_UOFFSET = N.UOffsetTFlags.packer_type
_SOFFSET = N.SOffsetTFlags.packer_type
_VOFFSET = N.VOffsetTFlags.packer_type
_U = N.UOffsetTFlags.bytewidth  # 4
_V = N.VOffsetTFlags.bytewidth  # 2

# slot -> upper-case metadata key, for the scalar string fields
_STRING_SLOTS = (
    (0, "NAME"),
    (1, "NAMESPACE"),
    (3, "OWNER"),
    (4, "WORKLOAD_NAME"),
    (6, "ISTIO_VERSION"),
    (7, "MESH_ID"),
    (9, "CLUSTER_ID"),
    (11, "IDENTITY"),
)
_LABELS, _PLATFORM_METADATA, _APP_CONTAINERS, _INSTANCE_IPS = 2, 5, 8, 10


def _fail(detail: str, offset: int) -> PeerMetadataError:
    return PeerMetadataError("flatnode", f"{detail} at offset {offset}")


def _need(buf: bytes, offset: int, size: int) -> None:
    if offset < 0 or offset + size > len(buf):
        raise _fail("truncated buffer", offset)


def _u32(buf: bytes, offset: int) -> int:
    _need(buf, offset, _U)
    return int(encode.Get(_UOFFSET, buf, offset))


def _u16(buf: bytes, offset: int) -> int:
    _need(buf, offset, _V)
    return int(encode.Get(_VOFFSET, buf, offset))


def _table(buf: bytes, pos: int) -> tuple[int, int, int]:
    """A table at `pos` as (pos, vtable position, vtable length), all checked."""
    _need(buf, pos, _U)
    vtable = pos - int(encode.Get(_SOFFSET, buf, pos))
    vt_len = _u16(buf, vtable)
    if vt_len < 2 * _V or vt_len % 2:
        raise _fail("bad vtable length", vtable)
    _need(buf, vtable, vt_len)
    return pos, vtable, vt_len


def _field(buf: bytes, table: tuple[int, int, int], slot: int) -> int:
    """Absolute position of a field's uoffset, or 0 when the field is absent."""
    pos, vtable, vt_len = table
    entry = 2 * _V + _V * slot
    if entry >= vt_len:
        return 0  # written by an older schema: the field did not exist yet
    rel = _u16(buf, vtable + entry)
    if rel == 0:
        return 0
    _need(buf, pos + rel, _U)
    return pos + rel


def _deref(buf: bytes, at: int) -> int:
    return at + _u32(buf, at)


def _string(buf: bytes, at: int) -> str:
    """The string whose uoffset is stored at `at`."""
    start = _deref(buf, at)
    length = _u32(buf, start)
    _need(buf, start + _U, length)
    try:
        return buf[start + _U : start + _U + length].decode("utf-8")
    except UnicodeDecodeError:
        raise _fail("invalid UTF-8 string", start) from None


def _vector(buf: bytes, at: int) -> range:
    """Positions of the uoffset elements of the vector whose uoffset is stored at `at`."""
    start = _deref(buf, at)
    count = _u32(buf, start)
    if count > MAX_VECTOR:
        raise _fail(f"vector of {count} entries", start)
    _need(buf, start + _U, count * _U)
    first = start + _U
    return range(first, first + count * _U, _U)


def _key_vals(buf: bytes, at: int) -> dict[str, object]:
    out: dict[str, object] = {}
    for element in _vector(buf, at):
        kv = _table(buf, _deref(buf, element))
        key_at = _field(buf, kv, 0)
        if not key_at:
            continue  # `key` is the sort key; a KeyVal without one names nothing
        value_at = _field(buf, kv, 1)
        out[_string(buf, key_at)] = _string(buf, value_at) if value_at else ""
    return out


def _strings(buf: bytes, at: int) -> str:
    """A [string] vector joined with ",", as Istio's `extractStructFromNodeFlatBuffer` does."""
    return ",".join(_string(buf, element) for element in _vector(buf, at))


def decode_flatnode(data: bytes) -> dict[str, object]:
    """A FlatNode as the upper-case metadata mapping Istio rebuilds from it.

    Raises `PeerMetadataError` (kind "flatnode") for anything that is not a well-formed
    FlatNode; absent fields are simply missing from the result.
    """
    buf = bytes(data)
    if len(buf) > MAX_BUFFER:
        raise PeerMetadataError("flatnode", f"buffer of {len(buf)} bytes is too large")
    if len(buf) < 2 * _U:
        raise _fail("truncated buffer", 0)
    root = _table(buf, _u32(buf, 0))
    md: dict[str, object] = {}
    for slot, key in _STRING_SLOTS:
        at = _field(buf, root, slot)
        if at:
            md[key] = _string(buf, at)
    for slot, key in ((_LABELS, "LABELS"), (_PLATFORM_METADATA, "PLATFORM_METADATA")):
        at = _field(buf, root, slot)
        if at:
            md[key] = _key_vals(buf, at)
    for slot, key in ((_APP_CONTAINERS, "APP_CONTAINERS"), (_INSTANCE_IPS, "INSTANCE_IPS")):
        at = _field(buf, root, slot)
        if at:
            md[key] = _strings(buf, at)
    if not md:
        # Random bytes often parse as a table with no fields; a real peer always has some.
        raise PeerMetadataError("flatnode", "no fields set")
    return md


def workload_from_flatnode(data: bytes, node_id: str = "") -> Workload:
    """The peer a FlatNode describes (source FLATNODE). Raises `PeerMetadataError`."""
    return workload_from_metadata(decode_flatnode(data), IdentitySource.FLATNODE, node_id)
