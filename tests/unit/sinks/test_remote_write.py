"""The remote-write sink without a network: the wire format against prompb's field
numbers, the report of a group (unknown values as -1), the request, the settings,
and delivery through the spool with a fake handler."""

from __future__ import annotations

import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cramjam
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pushrestic.config import load, remote_write_settings
from pushrestic.errors import UsageError
from pushrestic.metrics import CATALOGUE, LAST_SUCCESS
from pushrestic.model import (
    BackupResult,
    BackupSummary,
    CheckResult,
    ExitCodeSource,
    Outcome,
    ResticOutput,
    Run,
    StatsResult,
)
from pushrestic.sinks import remote_write
from pushrestic.sinks.pushgateway.deliver import Deliverer, PushSettings
from pushrestic.sinks.pushgateway.grouping import Gateway
from pushrestic.sinks.pushgateway.http import Headers, PushError, RetryPolicy
from pushrestic.sinks.pushgateway.spool import REMOTE_WRITE, Spool, SpoolEntry
from pushrestic.sinks.remote_write import (
    ALWAYS,
    PROTOCOL_HEADERS,
    UNKNOWN,
    RemoteWrite,
    parse_header,
    render,
    series_of,
    write_group,
)
from pushrestic.sinks.remote_write_proto import Metadata, Series, write_request

URL = "http://tsdb:8428/api/v1/write"
TARGET = RemoteWrite(URL, job="restic", instance="host-a")
QUICK = RetryPolicy(attempts=1, deadline=5, timeout=1)
NOW = 1_800_000_000.0

# -- a protobuf wire-format reader, for the test only ------------------------------


def fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of each field of one message: varints as int,
    fixed64 as 8 bytes, length-delimited as bytes."""
    index = 0
    while index < len(data):
        key, index = varint(data, index)
        number, wire_type = key >> 3, key & 7
        value: int | bytes
        if wire_type == 0:
            value, index = varint(data, index)
        elif wire_type == 1:
            value, index = data[index : index + 8], index + 8
        elif wire_type == 2:
            length, index = varint(data, index)
            value, index = data[index : index + length], index + length
        else:
            raise AssertionError(f"wire type {wire_type} is not used by remote-write 1.0")
        yield number, wire_type, value


def varint(data: bytes, index: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[index]
        index += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, index


def decode_request(data: bytes) -> list[tuple[dict[str, str], float, int]]:
    """The (labels, value, timestamp in ms) of each TimeSeries of a WriteRequest, read by
    prompb's field numbers: WriteRequest.timeseries = 1, TimeSeries.labels = 1 and
    .samples = 2, Label.name = 1 and .value = 2, Sample.value = 1 (double) and
    .timestamp = 2 (int64). Asserts every field has the wire type the schema gives."""
    found = []
    for number, wire_type, series in fields(data):
        if number == 3:  # metadata, read by decode_metadata
            continue
        assert (number, wire_type) == (1, 2)
        labels: list[tuple[str, str]] = []
        samples = []
        for inner, inner_type, value in fields(series):
            assert inner_type == 2, inner
            assert inner in (1, 2), inner
            if inner == 1:
                label = {n: v.decode() for n, t, v in fields(value) if t == 2}
                assert set(label) <= {1, 2}
                labels.append((label.get(1, ""), label.get(2, "")))
            else:
                sample = {n: (t, v) for n, t, v in fields(value)}
                assert sample[1][0] == 1
                assert sample[2][0] == 0
                (number_value,) = struct.unpack("<d", sample[1][1])
                stamp = sample[2][1]
                samples.append((number_value, stamp - (1 << 64) if stamp >= 1 << 63 else stamp))
        assert labels == sorted(labels, key=lambda pair: pair[0].encode()), "labels unsorted"
        ((value, stamp),) = samples
        found.append((dict(labels), value, stamp))
    return found


def decode_metadata(data: bytes) -> list[dict[int, Any]]:
    """Each MetricMetadata (field 3): {1: type, 2: family name, 4: help}."""
    found = []
    for number, _, value in fields(data):
        if number == 3:
            found.append(
                {n: (v.decode() if isinstance(v, bytes) else v) for n, _, v in fields(value)}
            )
    return found


# -- the wire format --------------------------------------------------------------


def test_a_write_request_carries_each_series_labels_sorted_with_its_one_sample() -> None:
    series = [
        Series((("job", "restic"), ("__name__", "up"), ("a", "é")), 1.5, 1_800_000_000_123),
        Series((("__name__", "down"),), -1.0, 0),
    ]
    assert decode_request(write_request(series)) == [
        ({"__name__": "up", "a": "é", "job": "restic"}, 1.5, 1_800_000_000_123),
        ({"__name__": "down"}, -1.0, 0),
    ]


def test_labels_are_sorted_by_their_bytes_so_capitals_come_before_the_name() -> None:
    (found,) = decode_request(
        write_request([Series((("b", "1"), ("A", "2"), ("__name__", "x")), 0, 1)])
    )
    assert list(found[0]) == ["A", "__name__", "b"]


def test_a_label_given_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="given twice"):
        write_request([Series((("a", "1"), ("a", "2")), 0, 1)])


def test_long_strings_and_negative_timestamps_use_multibyte_varints() -> None:
    long = "x" * 70_000
    (found,) = decode_request(write_request([Series((("__name__", long),), 2.0, -5)]))
    assert found == ({"__name__": long}, 2.0, -5)


def test_metadata_is_field_3_with_the_gauge_type_the_name_and_the_help() -> None:
    data = write_request([], [Metadata("restic_backup_success", "1 if ok")])
    assert decode_metadata(data) == [{1: 2, 2: "restic_backup_success", 4: "1 if ok"}]


def test_the_request_is_snappy_block_compressed() -> None:
    series = [Series((("__name__", "x"),), 1.0, 5)] * 50
    data = remote_write.encode(series)
    assert bytes(cramjam.snappy.decompress_raw(data)) == write_request(series)
    assert len(data) < len(write_request(series)) / 5


# -- what a report holds --------------------------------------------------------


def backup(code: int | None, summary: BackupSummary | None = None, **kw: Any) -> Run:
    source = ExitCodeSource.GIVEN if code is not None else ExitCodeSource.UNKNOWN
    output = ResticOutput(backup=BackupResult(summary) if summary else None)
    return Run("docs", "local", Outcome(code, source), output, ended_at=NOW - 60, **kw)


def values(body: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k in ("state", "type")))): (
            s.value
        )
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def test_a_failure_of_unknown_code_writes_every_backup_series_with_unknown_as_minus_one() -> None:
    found = values(render(backup(None)))
    assert found[("restic_backup_success", ())] == 0
    assert found[("restic_backup_exit_code", ())] == UNKNOWN
    assert found[("restic_backup_last_run_timestamp_seconds", ())] == NOW - 60
    for state in ("new", "changed", "unmodified"):
        assert found[("restic_backup_files", (("state", state),))] == UNKNOWN
    assert found[("restic_backup_blobs", (("type", "tree"),))] == UNKNOWN
    assert found[("restic_backup_added_bytes", ())] == UNKNOWN
    assert (LAST_SUCCESS, ()) not in found, "the last success is written only when known"


def test_known_values_are_written_as_they_are_and_only_the_unknown_ones_filled() -> None:
    summary = BackupSummary(files_new=4, files_changed=0, added_bytes=1024, duration_seconds=9.5)
    found = values(render(backup(3, summary)))
    assert found[("restic_backup_exit_code", ())] == 3
    assert found[("restic_backup_files", (("state", "new"),))] == 4
    assert found[("restic_backup_files", (("state", "changed"),))] == 0
    assert found[("restic_backup_files", (("state", "unmodified"),))] == UNKNOWN
    assert found[("restic_backup_added_bytes", ())] == 1024
    assert found[("restic_backup_added_stored_bytes", ())] == UNKNOWN
    assert found[("restic_backup_duration_seconds", ())] == 9.5


def test_a_success_writes_its_last_success_time() -> None:
    found = values(render(backup(0, BackupSummary(files_new=1))))
    assert found[(LAST_SUCCESS, ())] == NOW - 60


def test_a_check_group_writes_its_errors_as_unknown_when_restic_gives_no_count() -> None:
    run = Run(
        "docs",
        "local",
        Outcome(0, ExitCodeSource.GIVEN),
        ResticOutput(check=CheckResult(ok=True)),
        ended_at=NOW,
    )
    found = values(render(run))
    assert found[("restic_check_success", ())] == 1
    assert found[("restic_check_errors", ())] == UNKNOWN
    assert not any(name.startswith("restic_backup_") for name, _ in found)


def test_groups_whose_series_name_what_the_run_found_are_written_as_the_run_has_them() -> None:
    stats = StatsResult("restore-size", 1000, snapshots=2, files=7)
    run = Run("docs", "local", Outcome(0, ExitCodeSource.GIVEN), ResticOutput(stats=(stats,)))
    assert UNKNOWN not in values(render(run)).values()


def test_every_series_filled_is_in_the_catalogue_with_its_labels() -> None:
    catalogue = {spec.name: spec for spec in CATALOGUE}
    for operation, filled in ALWAYS.items():
        assert operation in (None, "forget", "prune", "check")
        for name, extras in filled:
            assert name in catalogue, name
            assert name != LAST_SUCCESS
            assert all(len(extra) == len(catalogue[name].labels) for extra in extras), name


def test_series_carry_job_and_the_grouping_key_which_wins_over_their_own_labels() -> None:
    body = render(backup(0), {"env": "prod"})
    key = {**TARGET.key("docs", "local"), "env": "key-wins", "instance": ""}
    series, metadata = series_of(body, TARGET, key, 123)
    success = next(s for s in series if dict(s.labels)["__name__"] == "restic_backup_success")
    assert dict(success.labels) == {
        "__name__": "restic_backup_success",
        "backend": "local",
        "env": "key-wins",
        "job": "restic",
        "location": "docs",
    }, "an empty instance is no label"
    assert success.timestamp_ms == 123
    assert success.value == 1
    assert {m.name for m in metadata} >= {"restic_backup_success", "pushrestic_build_info"}


# -- sending ------------------------------------------------------------------------

Sent = list[tuple[str, str, Headers, bytes]]


class Recording:
    """A transport that keeps what it is asked to send, and fails when told."""

    def __init__(self, sent: Sent, fail: Callable[[], None] | None = None) -> None:
        self.sent = sent
        self.fail = fail

    def request(
        self,
        method: str,
        url: str,
        *,
        timeout: float | None,
        headers: Headers = (),
        data: bytes | None = None,
    ) -> bytes:
        self.sent.append((url, method, headers, data or b""))
        if self.fail is not None:
            self.fail()
        return b""


def recording(sent: Sent, fail: Callable[[], None] | None = None) -> Recording:
    return Recording(sent, fail)


def test_a_group_is_posted_with_the_protocol_headers_and_stamped_when_sent() -> None:
    sent: Sent = []
    target = RemoteWrite(URL, instance="host-a", headers=(("X-Scope-OrgID", "tenant"),))
    size = write_group(
        recording(sent), target, target.key("docs", "local"), render(backup(0)), QUICK, at=NOW
    )
    ((url, method, headers, data),) = sent
    assert (url, method) == (URL, "POST")
    assert size == len(data)
    assert list(headers) == [*PROTOCOL_HEADERS, ("X-Scope-OrgID", "tenant")]
    series = decode_request(bytes(cramjam.snappy.decompress_raw(data)))
    assert {stamp for _, _, stamp in series} == {int(NOW * 1000)}
    assert all(
        labels["job"] == "restic" and labels["instance"] == "host-a" for labels, _, _ in series
    )


# -- the settings -------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["tsdb:8428/api/v1/write", "ftp://tsdb/api/v1/write", "http://u:p@tsdb/api/v1/write"]
)
def test_a_bad_remote_write_url_is_a_usage_error_that_shows_no_password(url: str) -> None:
    with pytest.raises(UsageError) as caught:
        RemoteWrite(url)
    assert "p@" not in str(caught.value)


def test_a_header_is_name_colon_value() -> None:
    assert parse_header("X-Scope-OrgID:  tenant-1 ") == ("X-Scope-OrgID", "tenant-1")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("X-Scope-OrgID tenant", "expected"),
        ("Bad Name: x", "not a valid"),
        ("Content-Encoding: gzip", "set by pushrestic"),
        ("authorization: Bearer x", "bearer token file"),
        ("X-Tenant: a\rb", "control character"),
    ],
)
def test_a_header_that_is_malformed_fixed_by_the_protocol_or_a_secret_is_refused(
    text: str, problem: str
) -> None:
    with pytest.raises(UsageError, match=problem):
        parse_header(text)


def test_remote_write_comes_from_the_flag_environment_or_file_with_the_gateway_settings(
    tmp_path: Path,
) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text(
        '[pushgateway]\njob = "backups"\ninstance = "h1"\ngrouping_labels = { site = "paris" }\n'
        '[remote_write]\nurl = "http://file/api/v1/write"\n'
        '[remote_write.headers]\n"X-Scope-OrgID" = "from-file"\n'
    )
    from pushrestic.cli import build_parser

    args = build_parser().parse_args(
        ["push", "--config", str(config_file), "--remote-write-header", "X-Other: 1"]
    )
    settings = remote_write_settings(load(args, {"PUSHRESTIC_REMOTE_WRITE": "http://env/write"}))
    assert settings is not None
    target = settings.gateway
    assert isinstance(target, RemoteWrite)
    assert target.url == "http://env/write"
    assert (target.job, target.instance, dict(target.grouping)) == (
        "backups",
        "h1",
        {"site": "paris"},
    )
    assert target.headers == (("X-Scope-OrgID", "from-file"), ("X-Other", "1"))
    assert remote_write_settings(load(build_parser().parse_args(["push"]), {})) is None


def test_a_bad_header_in_the_file_is_reported_at_its_key(tmp_path: Path) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text('[remote_write.headers]\n"Content-Type" = "text/plain"\n')
    from pushrestic.cli import build_parser

    with pytest.raises(UsageError, match=r"at 'remote_write\.headers'"):
        load(build_parser().parse_args(["push", "--config", str(config_file)]), {})


def test_neither_the_gateway_path_nor_a_dry_run_imports_the_remote_write_path(
    tmp_path: Path,
) -> None:
    log = tmp_path / "run.log"
    log.write_text("Fatal: unable to open config file\n")
    code = (
        "import sys\n"
        "from pushrestic import cli, config\n"
        "from pushrestic.sinks.pushgateway import deliver\n"
        f"cli.main(['push', '--dry-run', {str(log)!r}])\n"
        "config.push_settings(config.load(None, {'PUSHRESTIC_GATEWAY': 'http://gw:9091'}))\n"
        "loaded = [m for m in sys.modules if 'remote_write' in m or m.startswith('cramjam')]\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


# -- delivery through the spool -------------------------------------------------------


def deliverer(tmp_path: Path, transport: Any, target: RemoteWrite = TARGET) -> Deliverer:
    settings = PushSettings(target, tmp_path / "spool", policy=QUICK)
    return Deliverer(settings, transport=transport)


def test_a_spooled_report_is_stamped_when_it_is_replayed_not_when_it_ran(tmp_path: Path) -> None:
    day_ago = time.time() - 86400
    key = TARGET.key("docs", "local")
    entry = SpoolEntry(URL, "restic", key, render(backup(None)), None, day_ago, REMOTE_WRITE)
    spool = Spool(tmp_path / "spool")
    spool.put(entry)
    sent: Sent = []
    before = time.time()
    delivering = deliverer(tmp_path, recording(sent))
    delivering.replay()
    assert delivering.result.replayed == ["docs/local"]
    ((_, _, _, data),) = sent
    stamps = {stamp for _, _, stamp in decode_request(bytes(cramjam.snappy.decompress_raw(data)))}
    (stamp,) = stamps
    assert stamp >= int(before * 1000)
    assert spool.groups() == []


def test_a_gateway_deliverer_leaves_remote_write_reports_alone_and_the_other_way_round(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path / "spool")
    key = TARGET.key("docs", "local")
    spool.put(SpoolEntry(URL, "restic", key, render(backup(0)), None, 1.0, REMOTE_WRITE))
    spool.put(SpoolEntry("http://gw:9091", "restic", key, b"", 1.0, 1.0))  # nothing to ask
    sent: Sent = []
    gateway = Deliverer(
        PushSettings(Gateway("http://other:9091"), tmp_path / "spool", policy=QUICK),
        transport=recording(sent),
    )
    gateway.replay(adopt=True)
    assert [url for url, *_ in sent] == [
        "http://other:9091/metrics/job/restic/instance/host-a/location/docs/backend/local"
    ]
    assert gateway.drop_elsewhere() == []
    (left,) = [spool.get(group) for group in spool.groups()]
    assert left is not None
    assert left.sink == REMOTE_WRITE


def test_two_reports_of_one_group_are_never_stamped_the_same_millisecond(tmp_path: Path) -> None:
    sent: Sent = []
    delivering = deliverer(tmp_path, recording(sent))
    delivering.push([backup(3), backup(None)], {})
    stamps = [decode_request(bytes(cramjam.snappy.decompress_raw(data)))[0][2] for *_, data in sent]
    assert len(stamps) == 2
    assert stamps[0] < stamps[1]


def test_a_refused_write_is_set_aside_for_this_sink_and_401_waits_in_the_spool(
    tmp_path: Path,
) -> None:
    def refuse() -> None:
        raise PushError("POST x: HTTP 400: out of bounds", transient=False, status=400)

    delivering = deliverer(tmp_path, recording([], refuse))
    delivering.push([backup(0)], {})
    assert delivering.result.rejected == ["docs/local"]
    (rejected,) = delivering.rejected()
    assert rejected.entry.sink == REMOTE_WRITE
    gateway = Deliverer(PushSettings(Gateway("http://gw:9091"), tmp_path / "spool"))
    assert gateway.rejected() == [], "a rejection is listed by its own sink only"

    def unauthorized() -> None:
        raise PushError("POST x: HTTP 401", transient=False, status=401)

    again = deliverer(tmp_path, recording([], unauthorized))
    again.push([backup(1)], {})
    assert again.result.spooled == ["docs/local"]
    assert [e.sink for e in again.pending()] == [REMOTE_WRITE]


def test_a_remote_write_endpoint_has_no_groups_to_list(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no groups"):
        deliverer(tmp_path, recording([])).groups()


def test_a_remote_write_entry_reads_back_with_its_sink_and_has_an_id_of_its_own(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path / "spool")
    key = TARGET.key("docs", "local")
    entry = SpoolEntry(URL, "restic", key, render(backup(0)), 5.0, 1.0, REMOTE_WRITE)
    gateway_entry = SpoolEntry(URL, "restic", key, b"", 5.0, 1.0)
    assert entry.group_id != gateway_entry.group_id
    spool.put(entry)
    spool.put(gateway_entry)
    assert spool.get(entry.group_id) == entry
    assert spool.get(gateway_entry.group_id) == gateway_entry
    document = (tmp_path / "spool" / f"{gateway_entry.group_id}.json").read_text()
    assert '"sink"' not in document, "the Pushgateway's entries are written as before"


def test_an_entry_for_an_unknown_sink_is_set_aside_not_trusted(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    entry = SpoolEntry(URL, "restic", TARGET.key("docs", "local"), b"", None, 1.0, REMOTE_WRITE)
    spool.put(entry)
    path = tmp_path / "spool" / f"{entry.group_id}.json"
    path.write_text(path.read_text().replace('"remote-write"', '"carrier-pigeon"'))
    assert spool.get(entry.group_id) is None
    assert list((tmp_path / "spool").glob("*.broken-*"))


def test_without_cramjam_remote_write_says_how_to_install_it_into_pushrestics_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "cramjam", None)  # import cramjam raises ImportError
    with pytest.raises(UsageError) as caught:
        remote_write.require_snappy()
    assert str(caught.value) == (
        "remote-write needs the cramjam package in pushrestic's environment: "
        f"{sys.executable} -m pip install 'cramjam>=2.8'"
    )
