"""The generator's record of what it wrote: ``<out>/_manifest.json``.

JSON layout (all keys always present):

    {
      "generator": "cx.generate", "version": 1,
      "args": {"start", "days", "customers", "seed", "defects", "defect_scale", "sources"[, "activity"]},
      "files": {source: {"YYYY-MM-DD": {file_name: records}}},   # records = data rows incl. broken lines
      "defects": {kind: {"class": "repairable"|"quarantine", "base_rate", "rate", "count",
                          "by_source": {source: count}, "keys": {source: [key or null, ...]}}},
      "events": {"customer_updates", "product_launches", "price_updates", "closed_days": [...]},
      "groups": {group_name: customers},
      "identity": {kind: records},   # planted identity records per kind (cx.generate.identity)
      "identity_truth": [{"source", "source_record_id", "person", "kind"}, ...],
      "totals": {"files", "records", "records_by_source": {source: n},
                 "defects": {"repairable": n, "quarantine": n}}
    }

``identity_truth`` lists every planted record whose person is not the customer_id it
carries (a second CRM record, a guest order, a review or ticket without CRM id) with
its true person (a population customer_id); every other record's person is its own
customer_id. A planted record that a defect later breaks is still listed.

``keys[source]`` lists one entry per defective row (so its length equals
``by_source[source]``): the row's key (order_items: its order_id), or null when the
key itself is missing. ``_truth/defects.csv`` has the same rows with file and line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cx.generate.defects import DEFECT_KINDS


@dataclass
class Manifest:
    args: dict[str, Any]
    files: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    defects: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, Any] = field(
        default_factory=lambda: {"customer_updates": 0, "product_launches": 0, "price_updates": 0, "closed_days": []}
    )
    groups: dict[str, int] = field(default_factory=dict)
    identity_truth: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.defects:
            scale = float(self.args["defect_scale"]) if self.args["defects"] else 0.0
            for kind in DEFECT_KINDS:
                self.defects[kind.name] = {
                    "class": kind.klass,
                    "base_rate": kind.rate,
                    "rate": kind.rate * scale,
                    "count": 0,
                    "by_source": {},
                    "keys": {},
                }

    def add_file(self, source: str, day: str, name: str, records: int) -> None:
        self.files.setdefault(source, {}).setdefault(day, {})[name] = records

    def add_defect(self, kind: str, source: str, key: str | None) -> None:
        entry = self.defects[kind]
        entry["count"] += 1
        entry["by_source"][source] = entry["by_source"].get(source, 0) + 1
        entry["keys"].setdefault(source, []).append(key)

    def add_defects(self, kind: str, source: str, keys: list[str | None]) -> None:
        """:meth:`add_defect` for many rows of one kind and source at once (same result)."""
        if not keys:
            return
        entry = self.defects[kind]
        entry["count"] += len(keys)
        entry["by_source"][source] = entry["by_source"].get(source, 0) + len(keys)
        entry["keys"].setdefault(source, []).extend(keys)

    def add_identity(self, rows: list[tuple[str, str, str, str]]) -> None:
        """Planted identity records: (source, source_record_id, person, kind)."""
        self.identity_truth.extend({"source": s, "source_record_id": r, "person": p, "kind": k} for s, r, p, k in rows)

    @property
    def identity(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.identity_truth:
            counts[row["kind"]] = counts.get(row["kind"], 0) + 1
        return dict(sorted(counts.items()))

    def count(self, kind: str, source: str | None = None) -> int:
        entry = self.defects[kind]
        return int(entry["count"] if source is None else entry["by_source"].get(source, 0))

    @property
    def totals(self) -> dict[str, Any]:
        by_source = {s: sum(sum(f.values()) for f in days.values()) for s, days in self.files.items()}
        klass = {"repairable": 0, "quarantine": 0}
        for entry in self.defects.values():
            klass[entry["class"]] += entry["count"]
        return {
            "files": sum(len(f) for days in self.files.values() for f in days.values()),
            "records": sum(by_source.values()),
            "records_by_source": by_source,
            "defects": klass,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "generator": "cx.generate",
            "version": 1,
            "args": self.args,
            "files": self.files,
            "defects": self.defects,
            "events": self.events,
            "groups": self.groups,
            "identity": self.identity,
            "identity_truth": self.identity_truth,
            "totals": self.totals,
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> Manifest:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(
            args=data["args"],
            files=data["files"],
            defects=data["defects"],
            events=data["events"],
            groups=data["groups"],
            identity_truth=data.get("identity_truth", []),
        )
