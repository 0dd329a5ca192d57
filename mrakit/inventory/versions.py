"""Product versions, parsed so that the version-dependent rules can compare them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

_EXPRESSWAY = re.compile(r"^X?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.(\d+))?$", re.IGNORECASE)
_CUCM = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.(\d+))?(?:-\d+)?\s*(?:SU(\d+))?$", re.IGNORECASE)


@total_ordering
@dataclass(frozen=True)
class ExpresswayVersion:
    """An Expressway (X) version such as X15.5.1."""

    parts: tuple[int, int, int]

    @classmethod
    def parse(cls, text: str) -> ExpresswayVersion:
        match = _EXPRESSWAY.match(str(text).strip())
        if not match:
            raise ValueError(f"{text!r} is not an Expressway version such as X15.5.1")
        major, minor, patch = (int(g) if g else 0 for g in match.groups()[:3])
        return cls((major, minor, patch))

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, ExpresswayVersion):
            return NotImplemented
        return self.parts < other.parts

    def at_least(self, text: str) -> bool:
        return self >= ExpresswayVersion.parse(text)

    @property
    def same_release(self) -> tuple[int, int]:
        return self.parts[:2]

    def __str__(self) -> str:
        return "X" + ".".join(str(p) for p in self.parts)


@total_ordering
@dataclass(frozen=True)
class CucmVersion:
    """A CUCM version such as 15.0.1, 14SU3 or 15.0.1 SU5 (SU compared after the numbers)."""

    parts: tuple[int, int, int, int]
    su: int

    @classmethod
    def parse(cls, text: str) -> CucmVersion:
        match = _CUCM.match(str(text).strip())
        if not match:
            raise ValueError(f"{text!r} is not a CUCM version such as 15.0.1 or 15SU3")
        numbers = tuple(int(g) if g else 0 for g in match.groups()[:4])
        return cls((numbers[0], numbers[1], numbers[2], numbers[3]), int(match.group(5) or 0))

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, CucmVersion):
            return NotImplemented
        return (self.parts, self.su) < (other.parts, other.su)

    @property
    def major(self) -> int:
        return self.parts[0]

    def __str__(self) -> str:
        text = ".".join(str(p) for p in self.parts[:3])
        return f"{text} SU{self.su}" if self.su else text
