"""``make bench``: every benchmark module in this package, in one run, printing ratios.

Each area adds ``bench/<area>.py`` with a ``main(args) -> None`` that prints its own
figures; this runner imports them in name order. ``BENCH_ARGS="telemetry"`` runs one."""

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> None:
    wanted = set(sys.argv[1:])
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))
    for name in names:
        if wanted and name not in wanted:
            continue
        print(f"\n=== bench: {name} ===", flush=True)
        importlib.import_module(f"bench.{name}").main(sys.argv[1:])


if __name__ == "__main__":
    main()
