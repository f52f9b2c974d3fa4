"""`labscope`: serve the dashboard, list analyses, run and export them headless, manage the cache."""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import secrets
import socket
import sys
from pathlib import Path

from . import registry
from .analysis import Cancelled
from .cache import CacheStore, is_url
from .errors import InputError
from .params import ParameterError

TOKEN_ENV = "LABSCOPE_TOKEN"


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
        "params": outcome.public_params(),
        "metrics": outcome.result.metrics,
        "tables": table_files,
        "provenance": outcome.provenance(),
    }
    (out / "result.json").write_text(json.dumps(record, indent=2, default=str))
    source = "cache" if outcome.cache_hit else "computed"
    print(f"{outcome.analysis.name}: {source} in {outcome.wall_seconds:.2f} s "
          f"(original computation {outcome.compute_seconds:.2f} s) -> {out / 'result.json'}")
    stages = outcome.result.provenance.get("stages")
    if stages and not outcome.cache_hit:  # a hit ran no stage; its report is the original computation's
        from .stages import describe

        print(describe(stages))
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
        before = store.info()
        removed = store.clear(args.analysis)
        if args.analysis:
            print(f"removed {removed} entries of {args.analysis} from {store.location}")
        else:
            temps = before["temp_files"]["files"] - store.info()["temp_files"]["files"]
            print(f"removed {removed} entries, {before['uploads']['files']} uploads and {temps} temporary files "
                  f"from {store.location}")
    else:
        print(json.dumps(store.info(), indent=2))
    return 0


def is_loopback(host: str) -> bool:
    """Whether serving on `host` is reachable only from this machine: localhost or a 127.x/::1
    address (or a name that resolves only to those). 0.0.0.0, :: and real addresses are not."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


def serve_command(app: Path, port: int, host: str) -> list[str]:
    """The Streamlit command line: security settings travel as flags (a config file is read only
    from the folder Streamlit starts in). No tracebacks in the browser; XSRF and CORS checks on.

    Two of Streamlit's development aids cost a served dashboard most of its time, with torch, pandas and
    plotly loaded: a full garbage collection after every script run (`runner.postScriptGC`, about 0.1 s;
    two pages following jobs kept 70% of a core busy with it), and the source watcher, which after a new
    session's first run resolves the file of every loaded module (thousands) to watch for edits
    (`server.fileWatcherType`). Both are off; cached results follow code edits through code versions."""
    return [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
            "--server.address", host, "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--client.toolbarMode", "viewer", "--client.showErrorDetails", "none", "--runner.postScriptGC", "false",
            "--server.fileWatcherType", "none",
            "--server.enableXsrfProtection", "true", "--server.enableCORS", "true", "--server.maxUploadSize", "200"]


def cmd_runs(args) -> int:
    """Every cached run of an analysis as runs.csv; with --group-by, per-group statistics as groups.csv
    (or groups.tex, a booktabs table)."""
    from . import compare

    analysis = registry.get(args.name)
    conditions = analysis.spec.validate_some(analysis.spec.from_text(args.where)) if args.where else {}
    table, params, metrics = compare.runs_table(compare.cached_runs(_store(args), analysis.name))
    table = compare.where(table, conditions)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "runs.csv", index=False)
    print(f"{len(table)} cached runs of {analysis.name} -> {out / 'runs.csv'}")
    if args.group_by:
        by = [name.strip() for name in args.group_by.split(",") if name.strip()]
        groups = compare.group(table, by, metrics)
        if args.format == "latex":
            shown = [m for m in metrics if groups[f"{m}_mean"].notna().any()]
            (out / "groups.tex").write_text(compare.latex_table(groups, by, shown))
            print(f"{len(groups)} groups -> {out / 'groups.tex'}")
        else:
            groups.to_csv(out / "groups.csv", index=False)
            print(f"{len(groups)} groups -> {out / 'groups.csv'}")
    return 0


def cmd_jobs(args) -> int:
    """The jobs of the dashboard(s) using this cache: list them, follow one, or cancel one."""
    import time

    from .jobs import JobStore

    jobs = JobStore(_store(args).root)
    if args.cancel or args.follow:
        wanted = args.cancel or args.follow
        matches = [j for j in jobs.list(limit=10_000) if j.id.startswith(wanted)]
        if len(matches) != 1:
            raise ParameterError(f"job {wanted!r}: {'no such job' if not matches else 'ambiguous prefix'}")
        job = matches[0]
        if args.cancel:
            jobs.cancel(job.id)
            print(f"{job.id[:12]}: cancel requested ({jobs.get(job.id).status})")
            return 0
        update, close = _progress_bar(args.quiet)
        try:
            while (job := jobs.get(job.id)).active:
                if update:
                    update(job.progress, job.message or job.status)
                time.sleep(0.5)
        finally:
            close()
        print(f"{job.id[:12]} {job.analysis}: {job.status} after {job.elapsed():.1f} s"
              + (f" ({job.error})" if job.error else ""))
        return 0 if job.status == "done" else 1
    for job in jobs.list(limit=args.limit):
        print(f"{job.id[:12]}  {job.analysis:<18} {job.status:<11} {100 * job.progress:5.1f}%  "
              f"{job.elapsed():7.1f} s  {job.error or job.message}")
    return 0


def cmd_sweep(args) -> int:
    """A grid of settings through the cache (inline, a local pool or Dask); sweep.csv and a result.json per point."""
    from . import sweep

    spec = sweep.from_yaml(args.from_file) if args.from_file else {"grid": [], "points": [], "preset": None}
    if spec.get("analysis") and spec["analysis"] != args.name:
        raise ParameterError(f"the sweep file is for {spec['analysis']!r}, not {args.name!r}")
    analysis = registry.get(args.name)
    plan = sweep.build(analysis, args.preset or spec.get("preset") or "default", [*spec["grid"], *args.grid],
                       spec["points"])
    store = _store(args)
    print(f"{len(plan.points)} points of {analysis.name} (preset {plan.preset}), executor {args.executor}",
          file=sys.stderr)
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=len(plan.points), unit="point", file=sys.stderr)

    def progress(i: int, record: dict) -> None:
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(record["status"] + (" (cache)" if record["cache_hit"] else ""))

    try:
        records = sweep.execute(plan, store.location, args.executor, args.scheduler, args.workers, args.device,
                                progress)
    finally:
        if bar is not None:
            bar.close()
    csv = sweep.write_outputs(plan, records, args.out)
    failed = [(i, r) for i, r in enumerate(records) if r["status"] != "done"]
    cached = sum(1 for r in records if r["status"] == "done" and r["cache_hit"])
    print(f"{analysis.name}: {len(records) - len(failed) - cached} computed, {cached} from cache, "
          f"{len(failed)} failed -> {csv}")
    for i, record in failed:
        settings = ", ".join(f"{k}={v}" for k, v in record["overrides"].items())
        print(f"  point {i} ({settings}): {record['error']}", file=sys.stderr)
    return 1 if failed else 0


def cmd_serve(args) -> int:
    app = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
    if args.cache_dir:
        cache_dir = args.cache_dir
        os.environ["LABSCOPE_CACHE_DIR"] = cache_dir if is_url(cache_dir) else str(Path(cache_dir).resolve())
    shown_host = "localhost" if is_loopback(args.host) else (args.host if args.host not in ("0.0.0.0", "::") else
                                                             socket.gethostname())
    url = f"http://{shown_host}:{args.port}/"
    if args.no_token:
        os.environ.pop(TOKEN_ENV, None)
        if not is_loopback(args.host):
            print(f"labscope: WARNING: serving on {args.host} without a token (--no-token): anyone who can reach "
                  f"port {args.port} can use the dashboard and make this server compute", file=sys.stderr)
        print(f"labscope: open {url}", file=sys.stderr)
    elif os.environ.get(TOKEN_ENV) or not is_loopback(args.host):
        if not os.environ.get(TOKEN_ENV):
            os.environ[TOKEN_ENV] = secrets.token_urlsafe(24)
            print(f"labscope: access token: {os.environ[TOKEN_ENV]}", file=sys.stderr)
            print(f"labscope: open {url}?token={os.environ[TOKEN_ENV]}", file=sys.stderr)
        else:
            print(f"labscope: open {url}?token=<the token in ${TOKEN_ENV}>", file=sys.stderr)
    else:
        print(f"labscope: open {url}", file=sys.stderr)
    sys.stderr.flush()
    os.execv(sys.executable, serve_command(app, args.port, args.host))
    return 0  # not reached


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labscope", description=__doc__)
    parser.add_argument("--cache-dir", help="result cache directory or fsspec URL such as s3://bucket/prefix "
                        "(default: $LABSCOPE_CACHE_DIR or the user cache dir)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="start the dashboard")
    serve.add_argument("--port", type=int, default=8501)
    serve.add_argument("--host", default="localhost",
                       help="address to listen on; anything but localhost/127.x/::1 requires an access token")
    serve.add_argument("--no-token", action="store_true",
                       help="serve without an access token even off localhost (anyone who can connect may use it)")
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

    runs = sub.add_parser("runs", help="list an analysis' cached runs; group them with exact statistics")
    runs.add_argument("name", help="analysis name (see `labscope list`)")
    runs.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                      help="keep runs with this parameter value (repeatable)")
    runs.add_argument("--group-by", default="", metavar="K1,K2", help="parameters to group by (e.g. all but the seed)")
    runs.add_argument("--format", choices=("csv", "latex"), default="csv", help="of the groups table")
    runs.add_argument("--out", required=True, help="output directory")
    runs.set_defaults(func=cmd_runs)

    sweep = sub.add_parser("sweep", help="run a grid of settings through the cache, locally or on Dask")
    sweep.add_argument("name", help="analysis name (see `labscope list`)")
    sweep.add_argument("--preset", default=None, help="the base every point overrides (default: 'default')")
    sweep.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2|A..B",
                       help="a swept parameter (repeatable; the points are the product)")
    sweep.add_argument("--from", dest="from_file", metavar="SWEEP.yaml", help="grid and/or listed points from a file")
    sweep.add_argument("--executor", choices=("inline", "processes", "dask"), default="inline")
    sweep.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                       default=os.environ.get("LABSCOPE_DASK_SCHEDULER") or None,
                       help="an existing Dask scheduler (default: a LocalCluster for the sweep)")
    sweep.add_argument("--workers", type=int, default=None, help="local workers (default: LABSCOPE_WORKERS or 2)")
    sweep.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    sweep.add_argument("--out", required=True, help="output directory")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.set_defaults(func=cmd_sweep)

    jobs = sub.add_parser("jobs", help="list, follow or cancel the dashboard's jobs (those using this cache)")
    jobs.add_argument("--follow", metavar="ID", help="show one job's progress until it ends (an id prefix)")
    jobs.add_argument("--cancel", metavar="ID", help="ask a job to stop (an id prefix)")
    jobs.add_argument("--limit", type=int, default=50)
    jobs.add_argument("--quiet", action="store_true", help="no progress bar with --follow")
    jobs.set_defaults(func=cmd_jobs)

    cache = sub.add_parser("cache", help="inspect or clear the result cache")
    cache.add_argument("action", choices=("info", "clear"),
                       help="info: entries and bytes per analysis, uploads, temporary files, the cap (JSON); "
                            "clear: remove entries, uploads and temporary files of dead writers")
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
    except InputError as exc:  # the user's file, row or value: the message says which and what
        print(f"labscope: error: {exc}", file=sys.stderr)
        return 1
    except (Cancelled, KeyboardInterrupt):
        print("labscope: cancelled; the result was not cached (stages it finished were: a rerun does only the rest)",
              file=sys.stderr)
        return 130
    except BrokenPipeError:  # `labscope params ... | head` closed the pipe: not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at interpreter exit
        return 0
    except (ValueError, ArithmeticError, OSError, RuntimeError) as exc:  # bad data, divergence, no GPU...
        print(f"labscope: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: no raw traceback on the terminal, the full one in the log
        from . import errorlog

        reference, path = errorlog.record(exc, f"labscope {args.command}", echo=False)
        where = f"the traceback is in {path}" if path else "the traceback could not be written to a log"
        print(f"labscope: internal error ({type(exc).__name__}, reference {reference}); {where}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
