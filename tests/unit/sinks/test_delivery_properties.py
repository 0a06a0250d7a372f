"""Properties of delivery to files, for arbitrary label values.

Whatever the label values (all of Unicode, with ``\\r``, ``\\n``, ``"``,
``\\``, ``/``, ``.``, ``..``, ``@`` and the empty string), and however
textfile writes and spool round trips interleave:

1. every group written to the textfile reads back intact, through
   prometheus_client's parser: the series, labels and values of its latest
   report, with the last success time of its latest successful run;
2. every spooled entry reads back exactly, the last success never going back.

(The Pushgateway half, each group under its exact grouping key, is tested
with the push path.)
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from pushrestic.metrics import LAST_SUCCESS
from pushrestic.model import ExitCodeSource, Outcome, ResticOutput, Run
from pushrestic.sinks import textfile
from pushrestic.sinks.pushgateway.spool import Spool, SpoolEntry

# Few examples, each a handful of writes: the unit suite runs on a shared 2-core machine.
MODESTLY = settings(
    max_examples=30,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow],
)
START = 1_700_000_000.0  # every run ends after this, one second after the one before
GATEWAY = "http://gw:9091"

Series = frozenset[tuple[str, frozenset[tuple[str, str]], float]]
Group = tuple[str, str]

label_values = st.one_of(
    st.sampled_from(["", ".", "..", "@", "/", "\r", "\n", "\r\n", '"', "\\", "a@b", "a/b", "\\n"]),
    st.text(max_size=8),
)
groups = st.tuples(label_values, label_values)
user_labels = st.one_of(st.just({}), st.builds(lambda v: {"env": v}, label_values))


@dataclass(frozen=True, slots=True)
class Write:
    """One ``textfile.write`` of some groups, each with its exit code."""

    codes: dict[Group, int]
    labels: dict[str, str]


@dataclass(frozen=True, slots=True)
class Spooled:
    """One spool ``put`` then ``get`` of a group's report."""

    key: dict[str, str]
    last_success: float | None


writes = st.builds(
    Write,
    st.dictionaries(groups, st.sampled_from([0, 1, 3]), min_size=1, max_size=3),
    user_labels,
)
spooled = st.builds(
    Spooled,
    st.fixed_dictionaries({"instance": label_values, "location": label_values}),
    st.one_of(st.none(), st.floats(START - 1e6, START)),
)
steps = st.lists(st.one_of(writes, spooled), min_size=1, max_size=6)


def run(group: Group, code: int, ended: float) -> Run:
    location, backend = group
    return Run(location, backend, Outcome(code, ExitCodeSource.GIVEN), ResticOutput(), ended)


def by_group(text: str) -> dict[Group, Series]:
    """{(location, backend): its samples}, as prometheus_client's parser reads ``text``."""
    found: dict[Group, set[tuple[str, frozenset[tuple[str, str]], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            group = (sample.labels["location"], sample.labels["backend"])
            labels = frozenset(sample.labels.items())
            found.setdefault(group, set()).add((sample.name, labels, sample.value))
    return {group: frozenset(series) for group, series in found.items()}


def expected(
    group: Group, code: int, ended: float, labels: dict[str, str], last: float | None
) -> Series:
    """What the textfile holds for ``group`` after its latest report ``code``/``ended``."""
    rendered = textfile.render([run(group, code, ended)], labels).decode("utf-8")
    (series,) = by_group(rendered).values()
    kept = {s for s in series if s[0] != LAST_SUCCESS}
    if last is not None:
        labels_of_group = {"location": group[0], "backend": group[1], **labels}
        kept.add((LAST_SUCCESS, frozenset(labels_of_group.items()), last))
    return frozenset(kept)


@MODESTLY
@given(steps)
def test_every_group_written_to_the_textfile_or_the_spool_reads_back_intact(
    plan: list[Write | Spooled],
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "textfiles" / "restic.prom"
        path.parent.mkdir()
        spool = Spool(Path(directory) / "spool")
        in_file: dict[Group, Series] = {}
        last_success: dict[Group, float] = {}
        in_spool: dict[str, SpoolEntry] = {}
        ended = START
        for step in plan:
            ended += 1.0
            if isinstance(step, Write):
                runs = [run(group, code, ended) for group, code in step.codes.items()]
                textfile.write(path, runs, step.labels, timeout=0)
                for group, code in step.codes.items():
                    if code == 0:
                        last_success[group] = ended
                    last = last_success.get(group)
                    in_file[group] = expected(group, code, ended, step.labels, last)
                assert by_group(path.read_bytes().decode("utf-8")) == in_file
            else:
                body = textfile.render([run((step.key["location"], "b"), 1, ended)])
                entry = SpoolEntry(GATEWAY, "restic", step.key, body, step.last_success, ended)
                with spool.locked(entry.group_id):
                    spool.put(entry)
                previous = in_spool.get(entry.group_id)
                times = [step.last_success, previous.last_success if previous else None]
                last = max((t for t in times if t is not None), default=None)
                in_spool[entry.group_id] = SpoolEntry(
                    GATEWAY, "restic", step.key, body, last, ended
                )
                assert {g: spool.get(g) for g in spool.groups()} == in_spool
