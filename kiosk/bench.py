"""`kiosk bench [NAME…]`: runs the benchmarks in tests/bench/bench_<NAME>.py and prints their figures."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from kiosk.paths import REPO

BENCH_DIR = REPO / "tests" / "bench"


def available() -> list[str]:
    return sorted(path.stem.removeprefix("bench_") for path in BENCH_DIR.glob("bench_*.py"))


def run(names: list[str]) -> int:
    unknown = [name for name in names if name not in available()]
    if unknown:
        print(f"kiosk bench: unknown benchmark {', '.join(unknown)}; available: {', '.join(available())}")
        return 2
    # `vision` runs face, qr and document together; running everything need not run them twice.
    for name in names or [n for n in available() if n != "vision"]:
        print(f"== {name} ==", flush=True)
        load(name).main()
    return 0


def load(name: str) -> ModuleType:
    """The benchmark module tests/bench/bench_<name>.py (they are not an importable package)."""
    path: Path = BENCH_DIR / f"bench_{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
