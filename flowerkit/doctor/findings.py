"""What every check returns: a :class:`_Finding` in one of the :data:`CATEGORIES`, collected in a :class:`_Report`.

Introduced in notebook ``02_transform`` (the report of :func:`flowerkit.doctor.check_batch`). A finding carries
its category (access, quality, efficiency), whether it passed, what it means and the numbers behind it; a report
prints one line per check, problems first, then the checks it skipped (:class:`_Skipped`) and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["CATEGORIES"]

CATEGORIES = ("access", "quality", "efficiency")


@dataclass(frozen=True)
class _Finding:
    """The result of one check: where it belongs, whether it passed, what it means, the numbers behind it."""

    category: str
    check: str
    ok: bool
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        mark = "ok     " if self.ok else "PROBLEM"
        ev = ", ".join(f"{k}={_fmt(v)}" for k, v in self.evidence.items())
        return f"{mark} [{self.category}] {self.check}: {self.message}" + (f" ({ev})" if ev else "")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    if isinstance(v, (list, tuple)) and v and all(isinstance(i, float) for i in v):
        return "[" + ", ".join(f"{i:.3g}" for i in v) + "]"
    return str(v)


@dataclass(frozen=True)
class _Skipped:
    """A check that did not run, and why (e.g. no file list to compare with a reference)."""

    category: str
    check: str
    reason: str

    def __str__(self) -> str:
        return f"skipped [{self.category}] {self.check}: {self.reason}"


class _Report(list):
    """A list of :class:`_Finding`; ``report.problems`` are the failed ones, ``report.ok`` is True if none failed.

    ``report.skipped`` lists the checks that did not run, each with its reason.
    """

    def __init__(self, findings: Any = (), skipped: Any = ()) -> None:
        super().__init__(findings)
        self.skipped: list[_Skipped] = list(skipped)

    def skip(self, category: str, check: str, reason: str) -> None:
        """Record that ``check`` did not run, and why."""
        self.skipped.append(_Skipped(category, check, reason))

    def extend(self, items: Any) -> None:
        """Add findings; the skipped checks of another report come along."""
        super().extend(items)
        if isinstance(items, _Report):
            self.skipped.extend(items.skipped)

    @property
    def problems(self) -> list[_Finding]:
        """The findings that failed."""
        return [f for f in self if not f.ok]

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return not self.problems

    def by_category(self) -> dict[str, list[str]]:
        """The names of the failed checks in each category, e.g. ``{"access": ["labels match files"], ...}``."""
        return {c: [f.check for f in self.problems if f.category == c] for c in CATEGORIES}

    def has(self, check: str) -> bool:
        """True if the check named ``check`` failed."""
        return any(f.check == check for f in self.problems)

    def __str__(self) -> str:
        if not self:
            return "no checks ran"
        lines = [str(f) for f in sorted(self, key=lambda f: (f.ok, CATEGORIES.index(f.category)))]
        head = "no problem found" if self.ok else f"{len(self.problems)} problem(s) found"
        return "\n".join([head, *lines, *map(str, self.skipped)])

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython display
        p.text(str(self))
