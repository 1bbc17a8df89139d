"""The one attribute value type: what an OTLP attribute of ours can hold.

A leaf module (imports nothing of the bridge's), so identity, spans, logs and the encoders share
it without importing one another. OTLP's `AnyValue` holds more (arrays, maps, bytes); the bridge
writes only these.
"""

from __future__ import annotations

AttrValue = str | int | float | bool
Attr = tuple[str, AttrValue]
