"""Run every benchmark (or those named) and print a summary of their exit states."""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import time
import traceback

import benchmarks


def _names() -> list[str]:
    return sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules(benchmarks.__path__)
        if m.name.startswith("bench_")
    )


def main(argv: list[str]) -> int:
    available = _names()
    chosen = argv or available
    unknown = [n for n in chosen if n not in available]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {', '.join(available)}", file=sys.stderr)
        return 2
    failed: list[str] = []
    for name in chosen:
        print(f"\n=== {name} " + "=" * (60 - len(name)), flush=True)
        start = time.perf_counter()
        saved = dict(os.environ)  # a benchmark may point settings at its own servers
        try:
            importlib.import_module(f"benchmarks.bench_{name}").main()
        except Exception:
            traceback.print_exc()
            failed.append(name)
        finally:
            _restore(saved)
        print(f"--- {name}: {time.perf_counter() - start:.1f} s", flush=True)
    print(f"\n{len(chosen) - len(failed)} benchmarks ran, {len(failed)} failed {failed or ''}")
    return 1 if failed else 0


def _restore(environ: dict[str, str]) -> None:
    """Give the next benchmark the environment, settings and engines the run started with."""
    from commerce.db import reset_engines
    from shopflow.config import get_settings

    os.environ.clear()
    os.environ.update(environ)
    get_settings.cache_clear()
    reset_engines()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
