"""Feed every crafted bad file to its loader and sort the outcomes: the fuzz corpus report.

Every file under `corpus/<loader>/` is bad input by construction, so the only right outcome is
`InputError` (a clean message). Anything else is a finding: another exception (a traceback a user
would see), no answer within the time bound (a hang), a dead worker process (a crash), or a return
value (garbage silently accepted).

Cases run one at a time in a worker process, so a hang is killed and the next case goes on; the worker
is reused while it behaves, because importing torch and pandas per case would cost more than the cases.

    python tests/fuzz/harness.py            # the report, one line per loader
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

CORPUS = Path(__file__).parent / "corpus"
TIME_BOUND_S = 30.0
OUTCOMES = ("clean", "traceback", "hang", "crash", "accepted")


@dataclass
class Report:
    loader: str
    outcomes: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: {o: [] for o in OUTCOMES})

    @property
    def cases(self) -> int:
        return sum(len(v) for v in self.outcomes.values())

    def findings(self) -> list[str]:
        return [f"{self.loader}/{case}: {outcome}: {detail}" for outcome in OUTCOMES[1:]
                for case, detail in self.outcomes[outcome]]

    def line(self) -> str:
        counts = "  ".join(f"{o} {len(self.outcomes[o]):>3}" for o in OUTCOMES)
        return f"{self.loader:<28} cases {self.cases:>3}  {counts}"


def _loader(name: str):
    from fuzz import loaders

    return loaders.LOADERS[name]


def _worker(jobs, answers) -> None:
    sys.path.insert(0, str(Path(__file__).parents[1]))
    from analyses.core.errors import InputError

    for loader, path in iter(jobs.get, None):
        try:
            value = _loader(loader)(Path(path))
            answers.put(("accepted", f"returned {type(value).__name__}"))
        except InputError as exc:
            answers.put(("clean", str(exc)))
        except BaseException as exc:  # noqa: BLE001 - sorting every escape is the point
            tail = traceback.format_exception(exc)[-1].strip()
            answers.put(("traceback", tail[:300]))


def _importable_worker():
    """`_worker` from the module `fuzz.harness`, also when this file runs as a script (as `__main__`,
    which a spawned process does not re-run here: see analyses.core.processes)."""
    sys.path.insert(0, str(Path(__file__).parents[1]))
    from fuzz.harness import _worker as worker

    return worker


class _Worker:
    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self.jobs, self.answers = ctx.Queue(), ctx.Queue()
        self.process = ctx.Process(target=_importable_worker(), args=(self.jobs, self.answers), daemon=True)
        from analyses.core.processes import plain_main

        with plain_main():  # a test run by AppTest earlier may have left a page as __main__
            self.process.start()

    def ask(self, loader: str, path: Path, bound: float) -> tuple[str, str]:
        """The case's outcome; a worker that dies (a crash, or one that could not start) is a finding at
        once rather than a wait for the time bound."""
        import queue

        self.jobs.put((loader, str(path)))
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            try:
                return self.answers.get(timeout=0.2)
            except queue.Empty:
                if not self.process.is_alive():
                    return ("crash", f"the worker process died (exit code {self.process.exitcode})")
        return ("hang", f"no answer within {bound:.0f} s")

    def stop(self) -> None:
        self.process.kill()
        self.process.join()


def cases(loader: str) -> list[Path]:
    return sorted(p for p in (CORPUS / loader).rglob("*") if p.is_file() and not p.name.startswith("README"))


def run_corpus(loaders: list[str] | None = None, bound: float = TIME_BOUND_S) -> list[Report]:
    from fuzz.loaders import LOADERS

    reports = []
    worker = _Worker()
    try:
        for loader in loaders or sorted(LOADERS):
            report = Report(loader)
            for path in cases(loader):
                # the first case also pays for importing the loader's libraries in the worker
                outcome, detail = worker.ask(loader, path, bound * (3 if report.cases == 0 else 1))
                if outcome in ("hang", "crash"):
                    worker.stop()
                    if outcome == "crash" and report.cases == 0:  # it died on its first case: it will not start
                        report.outcomes[outcome].append((str(path.relative_to(CORPUS / loader)), detail))
                        raise RuntimeError(f"the fuzz worker process could not run: {detail}")
                    worker = _Worker()
                report.outcomes[outcome].append((str(path.relative_to(CORPUS / loader)), detail))
            reports.append(report)
    finally:
        worker.stop()
    return reports


def main() -> int:
    sys.path.insert(0, str(Path(__file__).parents[1]))
    started = time.perf_counter()
    reports = run_corpus(sys.argv[1:] or None)
    for report in reports:
        print(report.line())
    findings = [f for r in reports for f in r.findings()]
    for finding in findings:
        print("  " + finding)
    print(f"{sum(r.cases for r in reports)} cases in {time.perf_counter() - started:.0f} s; {len(findings)} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
