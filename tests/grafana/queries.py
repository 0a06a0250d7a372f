"""Reading the generated dashboard: its panels, their queries, and the variables.

* :func:`load` - ``grafana/dashboard.json`` as committed.
* :func:`queries` - every (panel, target) pair.
* :func:`substitute` - a query with ``$job``, ``$instance``, ... replaced the way
  Grafana's Prometheus data source does: All is the variable's ``allValue``
  (``.*``), one value is that value regex-escaped, several are ``(a|b)``; and
  ``$lookback`` replaced by a duration.
* :func:`selectors`, :func:`identifiers` - the metric selectors and the other
  names a PromQL expression uses, for checks against the catalogue.
* :func:`variable_query` - a ``query_result(EXPR)`` variable query and its regex, split.
* :func:`query_result_text` - one result of such a query as Grafana shows it to the regex.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GRAFANA = Path(__file__).resolve().parents[2] / "grafana"
DASHBOARD = GRAFANA / "dashboard.json"
LABEL_VARIABLES = ("job", "instance", "location", "backend")
LOOKBACK = "lookback"
DEFAULT_LOOKBACK = "2d"
ALL = ".*"

# Names PromQL itself provides: functions, aggregations, operators' keywords.
PROMQL_FUNCTIONS = frozenset(
    {
        "count",
        "max",
        "min",
        "sum",
        "avg",
        "time",
        "vector",
        "topk",
        "timestamp",
        "last_over_time",
        "max_over_time",
    }
)
PROMQL_KEYWORDS = frozenset({"or", "and", "unless", "bool"})

_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\{([^}]*)\}")
_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*')
_GROUPING = re.compile(r"\b(?:by|on|without|ignoring)\s*\([^)]*\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)\}")
_QUERY_RESULT = re.compile(r"query_result\((.+)\)", re.DOTALL)


def load() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return document


@dataclass(frozen=True, slots=True)
class Query:
    """One target of one panel."""

    panel: dict[str, Any]
    target: dict[str, Any]

    @property
    def expr(self) -> str:
        return str(self.target["expr"])

    @property
    def instant(self) -> bool:
        return bool(self.target.get("instant"))

    def __str__(self) -> str:
        return f"panel {self.panel['title']!r}, query {self.target['refId']}"


def queries(document: Mapping[str, Any]) -> Iterator[Query]:
    for panel in document["panels"]:
        for target in panel["targets"]:
            yield Query(panel, target)


def variables(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in document["templating"]["list"]}


def substitute(
    expr: str, values: Mapping[str, Sequence[str] | None], lookback: str = DEFAULT_LOOKBACK
) -> str:
    """``expr`` with each label variable's value in it (None is All, else the values),
    and ``lookback`` for ``$lookback``."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name == LOOKBACK:
            return lookback
        if name not in values:
            raise KeyError(f"no value for ${name} in {expr!r}")
        chosen = values[name]
        if chosen is None:
            return ALL
        escaped = [re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\\\1", v) for v in chosen]
        return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"

    return _VARIABLE.sub(value, expr)


def selectors(expr: str) -> list[tuple[str, dict[str, tuple[str, str]]]]:
    """``[(metric, {label: (operator, value)})]`` for each ``metric{...}`` in ``expr``."""
    found = []
    for metric, body in _SELECTOR.findall(expr):
        matchers: dict[str, tuple[str, str]] = {}
        for part in filter(str.strip, _split_matchers(body)):
            match = _MATCHER.fullmatch(part)
            assert match, f"cannot read the matcher {part!r} in {expr!r}"
            name, operator, value = match.groups()
            assert name not in matchers, f"{name} matched twice in {expr!r}"
            matchers[name] = (operator, value)
        found.append((metric, matchers))
    return found


def _split_matchers(body: str) -> list[str]:
    """Split ``a="x", b=~"y,z"`` at the commas outside quotes."""
    parts, current, quoted, escaped = [], "", False, False
    for char in body:
        if char == "," and not quoted:
            parts.append(current)
            current = ""
            continue
        current += char
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
    parts.append(current)
    return parts


@dataclass(frozen=True, slots=True)
class Names:
    """The names an expression uses: metrics, and functions (names before a ``(``)."""

    metrics: frozenset[str]
    functions: frozenset[str]
    bare_metrics: frozenset[str]  # metrics used without a {...} selector


def identifiers(expr: str) -> Names:
    text = _SELECTOR.sub(lambda m: m.group(1) + "{}", expr)
    text = _RANGE.sub(" ", _GROUPING.sub(" ", text))
    metrics: set[str] = set()
    functions: set[str] = set()
    bare: set[str] = set()
    for match in _IDENTIFIER.finditer(text):
        word = match.group()
        rest = text[match.end() :]
        if word in PROMQL_KEYWORDS:
            continue
        if rest.lstrip().startswith("("):
            functions.add(word)
        else:
            metrics.add(word)
            if not rest.startswith("{}"):
                bare.add(word)
    return Names(frozenset(metrics), frozenset(functions), frozenset(bare))


def variable_query(variable: Mapping[str, Any]) -> tuple[str, re.Pattern[str]]:
    """A ``query_result(EXPR)`` variable -> ``(EXPR, its regex)``: Grafana runs EXPR as an
    instant query at the end of the time range and keeps what the regex's group matches
    in each result's text (:func:`query_result_text`)."""
    match = _QUERY_RESULT.fullmatch(str(variable["definition"]).strip())
    assert match, f"not a query_result() query: {variable['definition']!r}"
    regex = str(variable["regex"])
    assert regex.startswith("/"), regex
    assert regex.endswith("/"), regex
    return match.group(1).strip(), re.compile(regex[1:-1])


def query_result_text(metric: Mapping[str, str], value: Sequence[Any]) -> str:
    """One result of a ``query_result()`` variable as Grafana writes it for the regex
    (public/app/plugins/datasource/prometheus/metric_find_query.ts):
    ``name{label="value",...} value timestamp_ms``."""
    labels = {k: v for k, v in metric.items() if k != "__name__"}
    text = metric.get("__name__", "")
    text += "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
    return f"{text} {value[1]} {float(value[0]) * 1000:.0f}"


def walk(node: Any, path: str = "$") -> Iterator[tuple[str, Any]]:
    """Every (path, value) in a JSON document, depth first."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}[{index}]")
