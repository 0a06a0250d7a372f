"""``restic stats``, text and --json, 0.9.2 to 0.19: the samples, and shapes only the source shows.

The captured samples are restic 0.14's; every other shape below is rebuilt from
the format strings of ``cmd/restic/cmd_stats.go`` at the tag named beside it
(restic 0.14 cannot print them) and marked "rebuilt".
"""

from __future__ import annotations

from typing import Any

import pytest

from pushrestic.errors import InputError
from pushrestic.model import ExitCodeSource, GroupOutput, Outcome, ResticOutput, Run, StatsResult
from pushrestic.outcome import resolve_outcome
from pushrestic.parsers import parse_groups
from pushrestic.parsers.restic import numbered
from pushrestic.parsers.stats import detect, infer_mode, parse_stats
from pushrestic.parsers.units import parse_size
from tests.conftest import SAMPLES, manifest

MIB = 1024**2
STATS_SAMPLES = [entry for entry in manifest() if "expected_stats" in entry]


def parse(*lines: str) -> ResticOutput:
    return parse_stats(numbered(lines), source="stats.log")


def only(output: ResticOutput) -> StatsResult:
    (result,) = output.stats
    return result


def sample_lines(name: str) -> list[str]:
    return (SAMPLES / name).read_text().split("\n")


# -- the samples -----------------------------------------------------------------


def test_every_stats_sample_has_an_expectation() -> None:
    names = {entry["file"] for entry in manifest() if "-stats-" in entry["file"]}
    assert names == {entry["file"] for entry in STATS_SAMPLES}
    assert len(names) == 5


def expected_result(expected: dict[str, Any]) -> dict[str, Any]:
    """The manifest's expectation in base units, as StatsResult fields."""
    found: dict[str, Any] = {"mode": expected["mode"]}
    for key in ("snapshots", "files", "blobs", "size_bytes"):
        if key in expected:
            found[key] = expected[key]
    if "size_text" in expected:
        found["size_bytes"] = parse_size(expected["size_text"])
    if "uncompressed_size_text" in expected:
        found["uncompressed_size_bytes"] = parse_size(expected["uncompressed_size_text"])
    for key in ("compression_progress", "compression_space_saving"):
        if f"{key}_text" in expected:
            found[f"{key}_ratio"] = float(expected[f"{key}_text"].rstrip("%")) / 100
    if "compression_ratio_text" in expected:
        found["compression_ratio"] = float(expected["compression_ratio_text"].rstrip("x"))
    return found


@pytest.mark.parametrize("entry", STATS_SAMPLES, ids=lambda entry: entry["file"])
def test_stats_sample_parses_to_its_manifest_expectation(entry: dict[str, Any]) -> None:
    output = parse_stats(numbered(sample_lines(entry["file"])), source=entry["file"])
    result = only(output)
    expected = expected_result(entry["expected_stats"])
    assert {key: getattr(result, key) for key in expected} == expected
    # A value restic does not print for this mode or version is None, never 0.
    for key in (
        "uncompressed_size_bytes",
        "compression_ratio",
        "compression_progress_ratio",
        "compression_space_saving_ratio",
    ):
        if key not in expected:
            assert getattr(result, key) is None, key
    assert output.fatal is None
    assert output.recognized


@pytest.mark.parametrize("entry", STATS_SAMPLES, ids=lambda entry: entry["file"])
def test_stats_sample_is_a_successful_stats_group_through_parse_groups(
    entry: dict[str, Any],
) -> None:
    (group,) = parse_groups(numbered(sample_lines(entry["file"])), source=entry["file"])
    assert group.output.stats
    assert group.output.backup is None
    outcome = resolve_outcome(group)
    assert outcome == Outcome(0, ExitCodeSource.INFERRED)
    run = Run("repo", "local", outcome, group.output)
    assert not run.is_backup
    assert run.operation == "stats"
    assert run.group == ("repo", "local", "stats")


def test_text_and_json_of_the_same_repository_agree_within_restics_rounding() -> None:
    text = only(parse_stats(numbered(sample_lines("restic-0.14-stats-text.log"))))
    json_ = only(parse_stats(numbered(sample_lines("restic-0.14-stats-json.json"))))
    assert (text.mode, text.files, text.snapshots) == (json_.mode, json_.files, json_.snapshots)
    assert abs(text.size_bytes - json_.size_bytes) <= 0.0005 * MIB


# -- every version's layout (rebuilt) --------------------------------------------


def test_rebuilt_0_9_2_text_without_a_header_takes_its_mode_from_the_counts() -> None:
    # restic@v0.9.2: no "scanning...", no header, two-space indented labels.
    output = parse("  Total Blob Count:   310", "        Total Size:   1024B")
    assert only(output) == StatsResult(mode="raw-data", size_bytes=1024, blobs=310)


def test_rebuilt_0_9_3_text_names_the_snapshots_in_its_header() -> None:
    # restic@v0.9.3..v0.9.6: "Stats for %s in %s mode:"; bytes as "%d B" from 0.9.4.
    for header in (
        "Stats for all snapshots in restore-size mode:",
        "Stats for the latest snapshot in restore-size mode:",
        "Stats for 1a2b3c4d in restore-size mode:",
    ):
        output = parse(
            "scanning...", header, "  Total File Count:   42", "        Total Size:   3.500 KiB"
        )
        assert only(output) == StatsResult(mode="restore-size", size_bytes=3584, files=42)


def test_rebuilt_0_15_text_in_restore_size_mode_has_no_compression_lines() -> None:
    # restic@v0.15.0: right-aligned labels, two spaces after the colon.
    output = parse(
        "scanning...",
        "Stats in restore-size mode:",
        "     Snapshots processed:  3",
        "        Total File Count:  1200",
        "              Total Size:  2.000 GiB",
    )
    assert only(output) == StatsResult(
        mode="restore-size", size_bytes=2 * 1024**3, snapshots=3, files=1200
    )


def test_rebuilt_0_19_text_ignores_the_final_progress_line() -> None:
    # restic@v0.19.1: the stats progress prints its final state once when not a terminal.
    output = parse(
        "scanning...",
        "[0:00] 100.00%  14 / 14 snapshots, 132 blobs, 84.212 MiB",
        "Stats in raw-data mode:",
        "     Snapshots processed:  14",
        "        Total Blob Count:  132",
        "              Total Size:  84.212 MiB",
    )
    assert only(output) == StatsResult(
        mode="raw-data", size_bytes=parse_size("84.212 MiB"), snapshots=14, blobs=132
    )


def test_rebuilt_blobs_per_file_and_files_by_contents_keep_restics_mode_names() -> None:
    output = parse(
        "Stats in blobs-per-file mode:",
        "Snapshots processed:   2",
        "   Total Blob Count:   77",
        "   Total File Count:   12",
        "         Total Size:   700 B",
        "Stats in files-by-contents mode:",
        "Snapshots processed:   2",
        "   Total File Count:   9",
        "         Total Size:   500 B",
    )
    assert [(r.mode, r.files, r.blobs, r.size_bytes) for r in output.stats] == [
        ("blobs-per-file", 12, 77, 700),
        ("files-by-contents", 9, None, 500),
    ]


def test_a_count_restic_left_out_because_it_is_zero_is_zero_not_unknown() -> None:
    # restic prints a count only when it is above 0: an empty repository.
    output = parse(
        "Stats in restore-size mode:", "Snapshots processed:   0", "         Total Size:   0 B"
    )
    assert only(output) == StatsResult(mode="restore-size", size_bytes=0, snapshots=0, files=0)
    raw = parse("Stats in raw-data mode:", "Snapshots processed:   0", "Total Size:   0 B")
    assert (only(raw).blobs, only(raw).files) == (0, None)


def test_rebuilt_0_9_json_has_no_snapshot_count() -> None:
    # restic@v0.9.6: TotalSize, TotalFileCount, TotalBlobCount (omitempty); no snapshots_count.
    output = parse('{"total_size":4096,"total_file_count":3}')
    assert only(output) == StatsResult(mode="restore-size", size_bytes=4096, files=3)


def test_rebuilt_0_15_raw_data_json_reads_compression_as_fractions() -> None:
    # restic@v0.15.0: compression fields (percentages as printed), counts omitempty.
    output = parse(
        '{"total_size":88302682,"total_uncompressed_size":110343750,"compression_ratio":'
        '1.2496,"compression_progress":100,"compression_space_saving":19.97594,'
        '"total_blob_count":132,"snapshots_count":14}'
    )
    result = only(output)
    assert result.mode == "raw-data"
    assert (result.blobs, result.files, result.snapshots) == (132, None, 14)
    assert result.uncompressed_size_bytes == 110343750
    assert result.compression_ratio == pytest.approx(1.2496)
    assert result.compression_progress_ratio == pytest.approx(1.0)
    assert result.compression_space_saving_ratio == pytest.approx(0.1997594)


def test_rebuilt_0_15_restore_size_json_of_an_empty_repository_is_zero_files() -> None:
    # omitempty: an empty repository's restore-size JSON is just its size and count.
    assert only(parse('{"total_size":0,"snapshots_count":0}')) == StatsResult(
        mode="restore-size", size_bytes=0, snapshots=0, files=0
    )


@pytest.mark.parametrize(
    ("files", "blobs", "compression", "mode"),
    [
        (231, None, False, "restore-size"),
        (0, 124, False, "raw-data"),
        (None, 124, False, "raw-data"),
        (12, 77, False, "blobs-per-file"),
        (None, None, True, "raw-data"),
        (None, None, False, "restore-size"),
    ],
)
def test_the_mode_of_a_result_that_does_not_name_it_follows_its_counts(
    files: int | None, blobs: int | None, compression: bool, mode: str
) -> None:
    assert infer_mode(files, blobs, compression) == mode


def test_two_modes_in_one_input_give_two_results_and_the_later_of_one_mode_wins() -> None:
    output = parse(
        '{"total_size":100,"total_file_count":1,"snapshots_count":1}',
        '{"total_size":50,"total_file_count":0,"total_blob_count":4,"snapshots_count":1}',
        "scanning...",
        "Stats in restore-size mode:",
        "Snapshots processed:   2",
        "   Total File Count:   2",
        "         Total Size:   200 B",
    )
    assert [(r.mode, r.size_bytes) for r in output.stats] == [
        ("raw-data", 50),
        ("restore-size", 200),
    ]


# -- failures and nonsense ---------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "         Total Size:   12 XB",
        "   Total File Count:   -3",
        "   Total File Count:   \uff13",  # a fullwidth 3: int() would read it
        "       Compression Ratio:  fast",
        "    Compression Progress:  100%",
    ],
)
def test_a_value_that_does_not_parse_is_an_error_naming_the_line(line: str) -> None:
    with pytest.raises(InputError) as caught:
        parse("scanning...", "Stats in raw-data mode:", line, "Total Size:   1 B")
    assert caught.value.line == 3


@pytest.mark.parametrize(
    "line",
    [
        '{"total_size":-1}',
        '{"total_size":"12"}',
        '{"total_size":true}',
        '{"total_size":1,"total_file_count":1.5}',
        '{"total_size":1,"compression_ratio":"1.2x"}',
        '{"total_size":1,"compression_progress":-3}',
        '{"total_size":1',
        '{"total_size":[]}',
    ],
)
def test_json_that_is_not_restics_is_an_error_naming_the_line(line: str) -> None:
    with pytest.raises(InputError) as caught:
        parse(line)
    assert caught.value.line == 1


def test_a_header_without_its_total_size_is_an_error_not_a_zero() -> None:
    with pytest.raises(InputError, match="Total Size"):
        parse("scanning...", "Stats in restore-size mode:", "Snapshots processed:   2")


def test_a_fatal_error_after_scanning_is_kept_and_the_run_fails() -> None:
    output = parse("scanning...", "Fatal: unable to load snapshot 1a2b3c4d: not found")
    assert output.stats == ()
    assert output.fatal == "Fatal: unable to load snapshot 1a2b3c4d: not found"
    assert resolve_outcome(GroupOutput(None, None, output)).exit_code is None


def test_an_input_without_any_result_is_an_error() -> None:
    with pytest.raises(InputError, match="without any result"):
        parse("scanning...")


# -- detection ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "first",
    [
        "scanning...",
        "Stats in raw-data mode:",
        '{"total_size":1,"snapshots_count":0}',
        "        Total Size:   1 B",
    ],
)
def test_stats_is_recognized_by_its_first_line(first: str) -> None:
    assert detect([(1, ""), (2, first), (3, "anything")])


def test_a_stats_header_a_file_name_injects_into_a_backup_log_is_not_taken_for_stats() -> None:
    # restic up to 0.15.1 prints -vv item names raw: a newline in a name starts a line.
    log = [
        "no parent snapshot found, will read all files",
        "new       /src/evil",
        "Stats in raw-data mode:, saved in 0.001s (9 B added)",
        "Stats in raw-data mode:",
        "              Total Size:  1 B",
    ]
    assert not detect(list(numbered(log)))
    (group,) = parse_groups(numbered(log))
    assert group.output.stats == ()
