"""The protobuf wire format of a Prometheus remote-write 1.0 ``WriteRequest``, by hand.

The schema is small and fixed (``prompb/remote.proto`` and ``prompb/types.proto``
of Prometheus); only the fields pushrestic sends are encoded::

    message WriteRequest   { repeated TimeSeries timeseries = 1; reserved 2;
                             repeated MetricMetadata metadata = 3; }
    message TimeSeries     { repeated Label labels = 1; repeated Sample samples = 2; }
    message Label          { string name = 1; string value = 2; }
    message Sample         { double value = 1; int64 timestamp = 2; }
    message MetricMetadata { MetricType type = 1; string metric_family_name = 2;
                             string help = 4; string unit = 5; }  // GAUGE = 2

Written here rather than generated with the ``protobuf`` package: that package
and its generated module would be a dependency larger than the rest of
pushrestic, and importing it costs tens of milliseconds where this costs
nothing; five messages of strings, doubles and integers are a few lines of
the wire format (varints, length-delimited fields, little-endian doubles).
``tests/unit/sinks/test_remote_write.py`` decodes what this writes field by
field against those field numbers, and the integration tests send it to real
receivers.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Wire types.
_VARINT = 0
_FIXED64 = 1
_LENGTH = 2

# Field numbers (prompb).
WRITE_REQUEST_TIMESERIES = 1
WRITE_REQUEST_METADATA = 3
TIMESERIES_LABELS = 1
TIMESERIES_SAMPLES = 2
LABEL_NAME = 1
LABEL_VALUE = 2
SAMPLE_VALUE = 1
SAMPLE_TIMESTAMP = 2
METADATA_TYPE = 1
METADATA_FAMILY_NAME = 2
METADATA_HELP = 4
METADATA_TYPE_GAUGE = 2


@dataclass(frozen=True, slots=True)
class Series:
    """One time series: its labels (``__name__`` among them) and one sample."""

    labels: tuple[tuple[str, str], ...]
    value: float
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class Metadata:
    """A metric family's help text, sent as a gauge's metadata."""

    name: str
    help: str


def write_request(series: Iterable[Series], metadata: Iterable[Metadata] = ()) -> bytes:
    """The serialized ``WriteRequest`` (not compressed). Labels are sent sorted by name,
    as the protocol requires; raises ValueError on a repeated label name."""
    out = bytearray()
    for one in series:
        _field(out, WRITE_REQUEST_TIMESERIES, _timeseries(one))
    for meta in metadata:
        _field(out, WRITE_REQUEST_METADATA, _metadata(meta))
    return bytes(out)


def _timeseries(series: Series) -> bytes:
    out = bytearray()
    labels = sorted(series.labels, key=lambda label: label[0].encode("utf-8"))
    for (name, _), (following, _) in itertools.pairwise(labels):
        if name == following:
            raise ValueError(f"label {name!r} given twice")
    for name, value in labels:
        _field(out, TIMESERIES_LABELS, _label(name, value))
    _field(out, TIMESERIES_SAMPLES, _sample(series.value, series.timestamp_ms))
    return bytes(out)


def _label(name: str, value: str) -> bytes:
    out = bytearray()
    _field(out, LABEL_NAME, name.encode("utf-8"))
    _field(out, LABEL_VALUE, value.encode("utf-8"))
    return bytes(out)


def _sample(value: float, timestamp_ms: int) -> bytes:
    # Both fields always written: a proto3 reader takes a missing one as 0, which is
    # the same, but a value of 0 spelled out costs nine bytes and is easier to read.
    out = bytearray()
    _key(out, SAMPLE_VALUE, _FIXED64)
    out += struct.pack("<d", value)
    _key(out, SAMPLE_TIMESTAMP, _VARINT)
    _varint(out, timestamp_ms & 0xFFFF_FFFF_FFFF_FFFF)  # int64: two's complement
    return bytes(out)


def _metadata(meta: Metadata) -> bytes:
    out = bytearray()
    _key(out, METADATA_TYPE, _VARINT)
    _varint(out, METADATA_TYPE_GAUGE)
    _field(out, METADATA_FAMILY_NAME, meta.name.encode("utf-8"))
    _field(out, METADATA_HELP, meta.help.encode("utf-8"))
    return bytes(out)


def _field(out: bytearray, number: int, payload: bytes) -> None:
    """A length-delimited field (string, bytes or an embedded message)."""
    _key(out, number, _LENGTH)
    _varint(out, len(payload))
    out += payload


def _key(out: bytearray, number: int, wire_type: int) -> None:
    _varint(out, number << 3 | wire_type)


def _varint(out: bytearray, value: int) -> None:
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)


def labels_of(pairs: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """``pairs`` as a Series' labels, empty values left out (an empty label is no label)."""
    return tuple((name, value) for name, value in pairs if value != "")
