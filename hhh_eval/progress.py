"""One progress view for a run: tasks done of total, items done of total across the run, the stage (answering,
scoring options, judging, scoring) and an ETA, on one line that updates in place.

lm-eval draws several bars per task of its own; while a task runs they are replaced by stand-ins that draw
nothing and report the requests done (a multiple-choice item is one request per option, so items advance by
the fraction of the task's requests done). `mode`:
- "bar": the live line (the default on a terminal);
- "lines": one line per finished task and stage (the default when stderr is not a terminal, e.g. CI logs);
- "quiet": only warnings and errors;
- "lm-eval": lm-eval's own bars, as lm-eval prints them (--verbose).
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

Mode = Literal["bar", "lines", "quiet", "lm-eval"]
DRAW_EVERY_S = 0.1
REQUEST_STAGES = {"Running loglikelihood requests": "scoring options", "Running generate_until requests": "answering",
                  "Requesting API": "answering"}


def default_mode(quiet: bool = False, verbose: bool = False) -> Mode:
    if verbose:
        return "lm-eval"
    if quiet:
        return "quiet"
    return "bar" if sys.stderr.isatty() else "lines"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


class RunProgress:
    """The run's progress: call start_task, let lm-eval run inside `lm_eval_bars()`, then finish_task."""

    def __init__(self, task_items: dict[str, int], mode: Mode) -> None:
        self.task_items, self.mode = task_items, mode
        self.done_before = 0.0  # items of finished tasks
        self.done = 0.0
        self.task, self.index, self.stage = "", 0, ""
        self.requests, self.started, self.drawn = 0, time.perf_counter(), 0.0

    @property
    def total(self) -> int:
        """Items of the whole run."""
        return sum(self.task_items.values())

    # ---------------------------------------------------------------- tasks and stages

    def start_task(self, name: str) -> None:
        self.index += 1
        self.task, self.stage, self.done = name, "loading", self.done_before
        self._draw(force=True)

    def begin_requests(self, stage: str, total: int | None) -> None:
        self.stage, self.requests = stage, max(total or 0, 1)
        self._draw(force=True)

    def request_done(self, n: float = 1) -> None:
        items = self.task_items.get(self.task, 0)
        self.done = min(self.done + n * items / self.requests, self.done_before + items)
        self._draw()

    def finish_task(self, seconds: float) -> None:
        self.done_before += self.task_items.get(self.task, 0)
        self.done = self.done_before
        if self.mode == "lines":
            print(f"[{self.index}/{len(self.task_items)}] {self.task}: {self.task_items.get(self.task, 0)} items "
                  f"answered in {_duration(seconds)}; {self._eta()}", file=sys.stderr)
        self._draw(force=True)

    def note(self, stage: str) -> None:
        """A stage after generation (judging, scoring): one line."""
        self.close()
        if self.mode in ("bar", "lines"):
            print(f"{stage}...", file=sys.stderr)

    def close(self) -> None:
        if self.mode == "bar" and self.task:
            print(file=sys.stderr)
            self.task = ""

    # ---------------------------------------------------------------- drawing

    def _eta(self) -> str:
        elapsed = time.perf_counter() - self.started
        if self.done <= 0:
            return f"{int(self.done)}/{self.total} items"
        left = elapsed * (self.total - self.done) / self.done
        return f"{int(self.done)}/{self.total} items, ETA {_duration(left)}"

    def _draw(self, force: bool = False) -> None:
        now = time.perf_counter()
        if self.mode != "bar" or (now - self.drawn < DRAW_EVERY_S and not force):
            return
        self.drawn = now
        share = self.done / self.total if self.total else 1.0
        bar = "#" * int(20 * share) + "-" * (20 - int(20 * share))
        line = f"task {self.index}/{len(self.task_items)} {self.task}: {self.stage} [{bar}] {self._eta()}"
        width = max(40, shutil.get_terminal_size((120, 20)).columns - 1)
        print(f"\r{line[:width]:<{width}}", end="", file=sys.stderr, flush=True)

    # ---------------------------------------------------------------- lm-eval's bars

    @contextmanager
    def lm_eval_bars(self) -> Iterator[None]:
        """Within: lm-eval's tqdm bars draw nothing and report requests here (unless mode is lm-eval)."""
        if self.mode == "lm-eval":
            yield
            return
        patched = [(m, m.tqdm) for m in list(sys.modules.values())
                   if getattr(m, "__name__", "").startswith("lm_eval") and getattr(m, "tqdm", None) is not None]
        progress = self

        class _Bar(_SilentBar):
            owner = progress

        for module, _ in patched:
            module.tqdm = _Bar
        try:
            yield
        finally:
            for module, original in patched:
                module.tqdm = original


class _SilentBar:
    """Stands in for tqdm inside lm-eval: draws nothing; request bars feed the owner's progress."""

    owner: RunProgress

    def __init__(self, iterable: Iterable[Any] | None = None, *args: Any, desc: str | None = None,
                 total: int | None = None, **kwargs: Any) -> None:
        self.iterable = iterable
        self.stage = REQUEST_STAGES.get(desc or "")
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        if self.stage:
            self.owner.begin_requests(self.stage, total)

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable or ():
            yield item
            self.update(1)

    def update(self, n: float = 1) -> None:
        if self.stage:
            self.owner.request_done(n)

    def __enter__(self) -> _SilentBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        pass

    def set_description(self, *args: Any, **kwargs: Any) -> None:
        pass

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    def refresh(self, *args: Any, **kwargs: Any) -> None:
        pass
