"""The private-pool message classes: loaded once, and kept for the life of the process."""

from __future__ import annotations

import gc
import weakref

from bridge.receivers.envoy_als import _protos
from tests.fixtures.als import http_entry, message


def test_sub_message_classes_outlive_the_messages_that_used_them() -> None:
    # upb holds a pool's classes weakly: unless `_protos` holds them, reading a sub-message of a
    # parsed-and-dropped message makes upb build its class again after each garbage collection.
    raw = message([http_entry()]).SerializeToString()
    parsed = _protos.StreamAccessLogsMessage.FromString(raw)
    common = parsed.http_logs.log_entry[0].common_properties
    classes = [
        weakref.ref(type(parsed.http_logs)),
        weakref.ref(type(common)),
        weakref.ref(type(common.start_time)),
        weakref.ref(type(common.upstream_remote_address.socket_address)),
        weakref.ref(type(common.response_flags)),
    ]
    del parsed, common
    gc.collect()
    assert all(ref() is not None for ref in classes)


def test_every_message_type_of_the_pool_has_its_class_held() -> None:
    names = {cls.DESCRIPTOR.full_name for cls in _protos._CLASSES}
    assert "envoy.config.core.v3.SocketAddress" in names
    assert "envoy.data.accesslog.v3.AccessLogCommon.FilterStateObjectsEntry" in names  # nested
    assert len(names) == len(_protos._CLASSES)
