"""restic's human sizes, durations and JSON times, converted to bytes and seconds."""

from __future__ import annotations

import pytest

from pushrestic.parsers.units import parse_duration, parse_size, parse_timestamp

KIB = 1024
MIB = 1024**2
GIB = 1024**3
TIB = 1024**4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0 B", 0),
        ("584 B", 584),
        ("1024 B", 1024),  # before 0.15 exactly 1 KiB printed as bytes
        ("584B", 584),  # '%dB' without a space, up to 0.9.3
        ("0B", 0),
        ("1.000 KiB", KIB),
        ("7.643 KiB", round(7.643 * KIB)),
        ("5.661 MiB", round(5.661 * MIB)),
        ("85.652 MiB", round(85.652 * MIB)),
        ("1.700 GiB", round(1.700 * GIB)),
        ("1.234 TiB", round(1.234 * TIB)),
        ("1536.000 TiB", 1536 * TIB),  # no PiB: TiB keep growing
        (" 5.661 MiB  ", round(5.661 * MIB)),  # '%-5s' padding around the value
    ],
)
def test_parse_size_converts_restic_sizes_to_bytes(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "B",
        "MiB",
        "1.5 B",  # whole bytes never have decimals
        "5 MB",
        "5 KB",
        "5 K",
        "5 kib",
        "-1 B",
        "1,5 KiB",
        "1e3 B",
        "five MiB",
        "5.661  MiB",
        "5.661 MiB (4.185 MiB stored)",
        "\u0663 B",  # an Arabic-Indic digit: restic prints ASCII only
        pytest.param("1" + "0" * 400 + " TiB", id="beyond-a-float"),
        "nan KiB",
        "inf KiB",
    ],
)
def test_parse_size_rejects_what_restic_never_prints(text: str) -> None:
    with pytest.raises(ValueError, match="not a restic size"):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0:00", 0),
        ("0:07", 7),
        ("12:05", 725),  # minutes are not zero-padded in the short form
        ("59:59", 3599),
        ("1:00:00", 3600),
        ("1:02:03", 3723),
        ("26:03:10", 26 * 3600 + 3 * 60 + 10),  # no days: hours keep growing
        ("100:00:00", 360000),
    ],
)
def test_parse_duration_converts_restic_durations_to_seconds(text: str, expected: int) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "0", "0:7", "0:60", "1:60:00", "1:02:03:04", "-1:00", "1d 2:00:00", "1:2:3", "\u0660:00"],
)
def test_parse_duration_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match="not a restic duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-05-04T03:00:01.118204657+02:00", 1746320401.118204657),
        ("2025-05-04T01:00:01Z", 1746320401.0),
        ("2025-05-04T01:00:01.5Z", 1746320401.5),
        ("2025-05-03T20:00:01-05:00", 1746320401.0),
    ],
)
def test_parse_timestamp_reads_restic_rfc3339_times_as_unix_seconds(
    text: str, expected: float
) -> None:
    assert parse_timestamp(text) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2025-05-04",
        "2025-05-04 03:00:01Z",
        "2025-05-04T03:00:01",  # restic always writes the offset
        "2025-13-04T03:00:01Z",
        "2025-05-04T03:00:01+2:00",
        "2025-05-04T03:00:01.Z",
        "x2025-05-04T03:00:01Z",
    ],
)
def test_parse_timestamp_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match="not an RFC 3339 time"):
        parse_timestamp(text)
