"""``make bench``: every benchmark module in this package, in one run, then one table.

Each area adds ``bench/<area>.py`` with a ``main(args) -> None`` that measures through
``bench.harness`` (interleaved rounds, load and steal recorded, an A/A control beside every
ratio); this runner imports them in name order and prints every recorded row again as one
table at the end. ``BENCH_ARGS="telemetry"`` runs one; ``BENCH_ARGS="--json out.json"`` also
writes the rows as JSON."""

import importlib
import json
import sys
import time

from bench import harness


def main() -> None:
    run(sys.argv[1:])


def run(args: list[str]) -> None:
    """Run the benchmarks named in ``args`` (all when none is), then print the table."""
    json_path = None
    if "--json" in args:
        at = args.index("--json")
        json_path = args[at + 1]
        args = args[:at] + args[at + 2 :]
    names = set(harness.bench_modules())
    wanted = {a for a in args if a in names}
    # Wall time per module: `make bench` has a 15-minute budget, and this says where it goes.
    elapsed: dict[str, float] = {}
    for name in sorted(names):
        if wanted and name not in wanted:
            continue
        module = importlib.import_module(f"bench.{name}")
        if not hasattr(module, "main"):
            continue
        print(f"\n=== bench: {name} ===", flush=True)
        started = time.monotonic()
        module.main(args)
        elapsed[name] = time.monotonic() - started
        print(f"=== bench: {name} took {elapsed[name]:.0f} s ===", flush=True)
    print("\n" + harness.table(), flush=True)
    times = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in elapsed.items())
    print(f"\nwall time: {sum(elapsed.values()) / 60:.1f} min ({times})", flush=True)
    if json_path:
        with open(json_path, "w") as out:
            json.dump([r.as_dict() for r in harness.RESULTS], out, indent=1)


if __name__ == "__main__":
    main()
