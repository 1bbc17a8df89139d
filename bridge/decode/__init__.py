"""Decode: one ALS entry into an `EntryView`, the only shape later stages read."""

from bridge.decode.entry import EntryView, FilterStateValue, from_http, from_tcp

__all__ = ["EntryView", "FilterStateValue", "from_http", "from_tcp"]
