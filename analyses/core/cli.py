"""`labscope`: serve the dashboard, list analyses, run and export them headless, manage the cache."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from . import registry
from .analysis import Cancelled
from .cache import CacheStore
from .params import ParameterError


def _store(args) -> CacheStore:
    return CacheStore(args.cache_dir) if args.cache_dir else CacheStore()


def _progress_bar(quiet: bool):
    """A tqdm bar fed by the analysis' progress reports; None when quiet."""
    if quiet:
        return None, (lambda: None)
    from tqdm import tqdm

    bar = tqdm(total=100, unit="%", file=sys.stderr, leave=False, bar_format="{l_bar}{bar}| {elapsed}")

    def update(fraction: float, message: str) -> None:
        bar.n = round(100 * fraction, 1)
        bar.set_description_str(message[:48], refresh=False)
        bar.refresh()

    return update, bar.close


def _execute(args):
    from .runner import run

    analysis = registry.get(args.name)
    overrides = analysis.spec.from_text(args.set)
    params = analysis.params(args.preset, overrides)
    update, close = _progress_bar(args.quiet)
    try:
        return run(analysis, params=params, device=args.device, on_progress=update, store=_store(args),
                   on_wait=lambda: print("waiting for another process computing the same result...", file=sys.stderr))
    finally:
        close()


def _write_tables(outcome, out: Path) -> list[str]:
    """The result's tables as CSV beside result.json or the figures: the plotted data."""
    out.mkdir(parents=True, exist_ok=True)
    for name, table in outcome.result.tables.items():
        table.to_csv(out / f"{name}.csv", index=False)
    return [f"{name}.csv" for name in outcome.result.tables]


def cmd_run(args) -> int:
    outcome = _execute(args)
    out = Path(args.out)
    table_files = _write_tables(outcome, out)
    record = {
        "analysis": outcome.analysis.name,
        "params": outcome.params,
        "metrics": outcome.result.metrics,
        "tables": table_files,
        "provenance": outcome.provenance(),
    }
    (out / "result.json").write_text(json.dumps(record, indent=2, default=str))
    source = "cache" if outcome.cache_hit else "computed"
    print(f"{outcome.analysis.name}: {source} in {outcome.wall_seconds:.2f} s "
          f"(original computation {outcome.compute_seconds:.2f} s) -> {out / 'result.json'}")
    if outcome.problem:
        print(f"note: a corrupt cache entry was found and recomputed ({outcome.problem})", file=sys.stderr)
    return 0


def cmd_export(args) -> int:
    from . import export

    try:
        export.get_style(args.style)  # fail on a bad style before computing anything
    except ValueError as exc:
        raise ParameterError(str(exc)) from None
    ok, why = export.export_available()
    if not ok:
        raise ParameterError(why)
    outcome = _execute(args)
    out = Path(args.out)
    formats = [f.strip() for chunk in args.format for f in chunk.split(",") if f.strip()]
    written = export.write_figures(outcome.figures(), out, formats=formats, style=args.style,
                                   title=True if args.titles else None)
    _write_tables(outcome, out)
    (out / "provenance.json").write_text(json.dumps(outcome.provenance(), indent=2, default=str))
    for path in written:
        print(path)
    return 0


def cmd_list(args) -> int:
    for analysis in registry.all_analyses().values():
        print(f"{analysis.name:<20} {analysis.title}")
        for paper in analysis.papers:
            print(f"{'':<22}{paper}")
    return 0


def cmd_params(args) -> int:
    analysis = registry.get(args.name)
    for p in analysis.spec:
        print(f"{p.name:<16} {type(p).__name__:<9} default={p.to_text(p.default) or '-':<10} {p.allowed()}")
        if p.help:
            print(f"{'':<17}{p.help}")
    print("presets: " + ", ".join(f"{name} {dict(values)}" for name, values in analysis.presets.items()))
    return 0


def cmd_cache(args) -> int:
    store = _store(args)
    if args.action == "clear":
        print(f"removed {store.clear(args.analysis)} entries from {store.root}")
    else:
        print(json.dumps(store.info(), indent=2))
    return 0


def cmd_serve(args) -> int:
    app = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
    if args.cache_dir:
        os.environ["LABSCOPE_CACHE_DIR"] = str(Path(args.cache_dir).resolve())
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(args.port),
               "--server.address", args.host, "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--client.toolbarMode", "viewer"]
    os.execv(sys.executable, command)
    return 0  # not reached


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labscope", description=__doc__)
    parser.add_argument("--cache-dir", help="result cache directory (default: $LABSCOPE_CACHE_DIR or the user cache dir)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="start the dashboard")
    serve.add_argument("--port", type=int, default=8501)
    serve.add_argument("--host", default="localhost")
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("list", help="list analyses and their papers").set_defaults(func=cmd_list)
    params = sub.add_parser("params", help="show an analysis' parameters, ranges and presets")
    params.add_argument("name")
    params.set_defaults(func=cmd_params)

    for name, func, help_text in (("run", cmd_run, "compute (or read from the cache) and write result.json"),
                                  ("export", cmd_export, "write every figure as paper-ready files")):
        command = sub.add_parser(name, help=help_text)
        command.add_argument("name", help="analysis name (see `labscope list`)")
        command.add_argument("--preset", default="default")
        command.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                             help="override one parameter (repeatable)")
        command.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
        command.add_argument("--out", required=True, help="output directory")
        command.add_argument("--quiet", action="store_true", help="no progress bar")
        command.set_defaults(func=func)
        if name == "export":
            command.add_argument("--format", action="append", default=[],
                                 help="png, svg or pdf (repeatable or comma-separated; default all three)")
            command.add_argument("--style", default="ml-column", help="journal preset, e.g. ml-column, ml-full, acl-column")
            command.add_argument("--titles", action="store_true",
                                 help="draw each figure's title inside it (paper styles otherwise leave it to "
                                      "<name>.caption.txt, written beside every figure)")

    cache = sub.add_parser("cache", help="inspect or clear the result cache")
    cache.add_argument("action", choices=("info", "clear"))
    cache.add_argument("--analysis", help="clear only this analysis' entries")
    cache.set_defaults(func=cmd_cache)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "format", None) == []:
        args.format = ["png,svg,pdf"]
    try:
        return args.func(args)
    except ParameterError as exc:
        print(f"labscope: error: {exc}", file=sys.stderr)
        return 2
    except (Cancelled, KeyboardInterrupt):
        print("labscope: cancelled; nothing was cached", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `labscope params ... | head` closed the pipe: not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at interpreter exit
        return 0
    except (ValueError, ArithmeticError, OSError, RuntimeError) as exc:  # bad data, divergence, no GPU...
        print(f"labscope: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
