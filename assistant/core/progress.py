"""Progress bars for long work (ingest, evals): tqdm on stderr, hidden when stderr is not a terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable

Progress = Callable[[int], None]


def tqdm_progress(total: int, label: str, unit: str = "bit") -> Progress:
    from tqdm import tqdm

    bar = tqdm(total=total, desc=label, unit=unit, file=sys.stderr, disable=None, leave=False)

    def tick(n: int) -> None:
        bar.update(n)
        if bar.n >= total:
            bar.close()

    return tick
