"""UI benchmarks (`kiosk bench ui`, issue 6 §4): cold start to an interactive home screen, touch →
next screen drawn, and the UI process's memory over many scripted sessions. Each figure is printed
with a ratio against a baseline measured in the same run (these machines are noisy).

Every Kivy process is a child of this one (a Kivy window is once per process, and `kiosk bench` may
run other benchmarks in its own process): `python bench_ui.py MODE STATE_DIR PLATFORM_URL`. They all
draw on one X server, an Xvfb started here when there is no DISPLAY, and talk to one platform
simulator run here (outside the measured processes, as the real platform is remote). The kiosk is
started as `kiosk run --config FILE` starts it, on the demo terminal's kiosk.toml written here.

KIOSK_BENCH_SESSIONS sets the number of scripted sessions for the memory figure. The issue asks for
1,000, but a session takes 1.5–2 s on the 2-core reference machine under Xvfb (a frame costs
~0.05–0.1 s there, and the card read ~0.5 s), so 1,000 take ~30 minutes: the default is 80
(~2.5 min), which keeps the whole benchmark under ~10 minutes; the N used is printed.
KIOSK_BENCH_COLD_RUNS sets the cold starts of each kind (default 5), KIOSK_BENCH_TOUCH_ROUNDS the
navigation rounds of the touch figure (default 12, 9 taps each).
"""

from __future__ import annotations

# Only the standard library at the top: a child measured from its first instruction (the cold start
# and its bare baseline) must not pay for imports that the other does not need.
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

WINDOW = (720, 1280)  # as `kiosk demo --headless`
SCREEN = "1080x1920x24"
DEMO_ITEM = "KS-SAMPLE-JY-SY-0007"  # 失业登记: 全程网办, in 跨省通办专区
DEFAULT_SESSIONS = 80  # not the 1,000: see the module docstring
READY = "BENCH-READY"
READY_TERMINAL = "BENCH-TERMINAL"
RESULT = "BENCH-RESULT "
MARK_WINDOW = 5  # sessions whose RSS samples make one memory figure (their median)
SETTLE_FRAMES = 3  # between taps: let the last change be laid out and drawn before the next touch
# One navigation round of the touch figure: (widget tid to tap, screen expected after it).
ROUND = [
    ("tile:kuasheng", "catalog"),
    (f"item:{DEMO_ITEM}", "guide"),
    ("start", "idcard"),  # a session starts; the screen follows the flow's step (one clock tick later)
    ("home_button", "home"),
    ("tile:query", "query"),
    ("query:scan", "scan"),  # the camera loop starts
    ("home_button", "home"),
    ("tile:all", "catalog"),  # every item of the catalog
    ("home_button", "home"),
]


def _env_int(name: str, default: int) -> int:
    return max(1, int(os.environ.get(name, str(default))))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- parent: display, platform simulator, children ----------------------------------------------------


@contextlib.contextmanager
def _display() -> Iterator[dict[str, str]]:
    """The environment for the children: this DISPLAY, or one Xvfb for all of them (as
    `xvfb-run -a -s "-screen 0 1080x1920x24"` would start, but shared so every child draws alike)."""
    if os.environ.get("DISPLAY"):
        yield dict(os.environ)
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        raise SystemExit("bench ui: no display and no Xvfb (apt-get install xvfb)")
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(
        [xvfb, "-displayfd", str(write_fd), "-screen", "0", SCREEN, "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()  # Xvfb writes its display number once it accepts clients
        if not number:
            raise SystemExit("bench ui: Xvfb did not start")
        yield {**os.environ, "DISPLAY": f":{number}"}
    finally:
        server.terminate()
        server.wait(timeout=10)


@contextlib.contextmanager
def _platform(root: Path) -> Iterator[tuple[Path, str]]:
    """A demo state dir (with the terminal's secret) and the URL of a platform simulator knowing it."""
    from kiosk.demo import demo_config, write_demo_config
    from kiosk.platform_sim import ServerThread

    state_dir = root / "state"
    probe = demo_config(state_dir, "http://127.0.0.1:1", window=WINDOW)  # writes the secret
    secret = probe.platform.secret_file.read_text().strip()
    with ServerThread(root / "platform-sim.db", {probe.platform.terminal_id: secret}) as server:
        write_demo_config(_config_file(state_dir), state_dir, server.base_url, window=WINDOW)
        yield state_dir, server.base_url


def _config_file(state_dir: Path) -> Path:
    """The demo terminal's kiosk.toml, written by the parent beside the state dir."""
    return state_dir.parent / "kiosk.toml"


class Child:
    """`python bench_ui.py MODE …` with its stdout read line by line, stderr kept for a failure."""

    def __init__(self, mode: str, env: dict[str, str], state_dir: Path, url: str, log: Path) -> None:
        self.log = log
        with log.open("wb") as err:
            self.started = time.perf_counter()
            self.proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), mode, str(state_dir), url],
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env={**env, "KIOSK_LOG_LEVEL": "WARNING"},
            )

    def line(self, prefix: str) -> tuple[str, float]:
        """The first stdout line starting with `prefix` (without it), and seconds since Popen."""
        return self.lines(prefix)[prefix]

    def lines(self, *prefixes: str) -> dict[str, tuple[str, float]]:
        """`line` for each prefix, read in whatever order they come."""
        assert self.proc.stdout is not None
        found: dict[str, tuple[str, float]] = {}
        for line in self.proc.stdout:
            for prefix in prefixes:
                if line.startswith(prefix) and prefix not in found:
                    found[prefix] = line[len(prefix) :].strip(), time.perf_counter() - self.started
            if len(found) == len(prefixes):
                return found
        self.proc.wait()
        tail = self.log.read_text(errors="replace")[-3000:]
        missing = [prefix for prefix in prefixes if prefix not in found]
        raise RuntimeError(f"bench ui child exited {self.proc.returncode} without {missing}:\n{tail}")

    def finish(self, timeout: float = 60) -> None:
        assert self.proc.stdout is not None
        self.proc.stdout.read()
        self.proc.wait(timeout=timeout)


def bench_cold(env: dict[str, str], state_dir: Path, url: str, tmp: Path) -> list[str]:
    runs = _env_int("KIOSK_BENCH_COLD_RUNS", 5)
    times: dict[str, list[float]] = {"cold-bare": [], "cold-kiosk": [], "terminal": []}
    # One unmeasured start of each first (page cache, font cache, the state DB created); then the two
    # kinds alternate so that drift on the machine falls on both.
    for index in range(runs + 1):
        for mode in ("cold-bare", "cold-kiosk"):
            child = Child(mode, env, state_dir, url, tmp / f"{mode}.log")
            markers = (READY, READY_TERMINAL) if mode == "cold-kiosk" else (READY,)
            seen = child.lines(*markers)
            child.finish()
            if index:
                times[mode].append(seen[READY][1])
                if READY_TERMINAL in seen:
                    times["terminal"].append(seen[READY_TERMINAL][1])
    bare, kiosk, terminal = (statistics.median(times[k]) for k in ("cold-bare", "cold-kiosk", "terminal"))

    def spread(mode: str) -> str:
        return f"{min(times[mode]):.2f}–{max(times[mode]):.2f} s"

    return [
        f"cold start to interactive home (Popen → first frame drawn with the home tiles, which answer "
        f"touches; `kiosk run --config` on the demo terminal's kiosk.toml: simulated devices, face "
        f"detector, outbox, platform client), "
        f"median of {runs}: {kiosk:.2f} s (range {spread('cold-kiosk')})",
        f"  baseline, a bare Kivy App (one Label) started the same way (same interpreter, window, X "
        f"server): {bare:.2f} s (range {spread('cold-bare')}) → kiosk/bare = {kiosk / bare:.2f}× "
        f"(target ≤ 1.5×)",
        f"  then the terminal opened behind the home screen and attached to the app (every screen "
        f"there; a tile tapped before waits for it): {terminal:.2f} s (range {spread('terminal')}) → "
        f"{terminal / bare:.2f}× the bare app",
    ]


def bench_touch(env: dict[str, str], state_dir: Path, url: str, tmp: Path) -> list[str]:
    child = Child("touch", env, state_dir, url, tmp / "touch.log")
    result = json.loads(child.line(RESULT)[0])
    child.finish()
    nav_ms = [s * 1000 for s in result["nav"]]
    base_ms = [s * 1000 for s in result["bare"]]
    nav50, nav95 = _percentile(nav_ms, 0.5), _percentile(nav_ms, 0.95)
    base50, base95 = _percentile(base_ms, 0.5), _percentile(base_ms, 0.95)
    lines = [
        f"touch → next screen drawn (ScriptedTouch down+up on a navigation button → the buffer swap "
        f"after the screen manager shows the next screen; after the start-up warm-up), {len(nav_ms)} taps in "
        f"{result['rounds']} rounds of {len(ROUND)}: p50 {nav50:.1f} ms, p95 {nav95:.1f} ms, "
        f"max {max(nav_ms):.1f} ms (target p95 ≤ 100 ms)",
        f"  baseline, a tap on a bare Button that only changes a Label, in the same app just before each "
        f"navigation tap: p50 {base50:.1f} ms, p95 {base95:.1f} ms → navigation/baseline = "
        f"{nav50 / base50:.2f}× at p50, {nav95 / base95:.2f}× at p95",
    ]
    by_target: dict[str, list[float]] = {}
    for (tid, screen), seconds in zip(ROUND * result["rounds"], result["nav"], strict=True):
        by_target.setdefault(f"{tid} → {screen}", []).append(seconds * 1000)
    lines += [
        f"    {name}: p50 {_percentile(ms, 0.5):.1f} ms, p95 {_percentile(ms, 0.95):.1f} ms"
        for name, ms in by_target.items()
    ]
    return lines


def bench_memory(env: dict[str, str], state_dir: Path, url: str, tmp: Path) -> list[str]:
    child = Child("memory", env, state_dir, url, tmp / "memory.log")
    result = json.loads(child.line(RESULT)[0])
    child.finish()
    n, samples = result["sessions"], {int(k): v for k, v in result["rss_kb"].items()}
    early, last = samples[min(10, n)], samples[n]
    growth = (last - early) / early * 100
    trend = ", ".join(f"{count}: {kb / 1024:.0f}" for count, kb in sorted(samples.items()))
    note = "" if n >= 1000 else f" (N={n}, not the issue's 1,000: KIOSK_BENCH_SESSIONS=1000 takes ~30 min)"
    return [
        f"UI process RSS (VmRSS after gc.collect(); each figure the median of the samples after the "
        f"{MARK_WINDOW} sessions ending there) after {n} scripted sessions{note}: {last / 1024:.1f} MB "
        f"(target ≤ 300 MB), {result['seconds'] / n * 1000:.0f} ms per session",
        f"  baseline, the same process after {min(10, n)} sessions: {early / 1024:.1f} MB → growth "
        f"{growth:+.2f}% (target ≤ 5%); after starting, before any session: "
        f"{result['rss_start_kb'] / 1024:.1f} MB, then {result['rss_settled_kb'] / 1024:.1f} MB once the "
        f"start-up work was done (warm-up, cameras stopped), when the sessions began",
        f"  RSS MB by sessions done: {trend}; card reads that failed (the session then went home from "
        f"the error): {result['card_errors']}",
        "  a session: home → 跨省通办专区 → catalog → 失业登记 → guide → 开始办理 → idcard, the simulated "
        "card laid on the reader → read → face check shown → 首页 (session ended and wiped, card taken "
        "away) → 查询 → 扫描回执二维码 (camera loop) → 首页",
    ]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-ui-") as name, _display() as env:
        tmp = Path(name)
        with _platform(tmp) as (state_dir, url):
            for bench in (bench_cold, bench_touch, bench_memory):
                for line in bench(env, state_dir, url, tmp):
                    print(line, flush=True)


# -- children: the Kivy processes ---------------------------------------------------------------------


class FlipHook:
    """Calls `watch` callbacks right after each buffer swap (Window.flip), the moment a frame is drawn,
    until they return True. Kivy's on_flip handlers run before the swap, hence the wrapper."""

    def __init__(self) -> None:
        from kivy.core.window import Window

        self.watchers: list[Callable[[float], bool]] = []
        flip = Window.flip

        def flip_and_tell() -> None:
            flip()
            now = time.perf_counter()
            self.watchers = [watch for watch in self.watchers if not watch(now)]

        Window.flip = flip_and_tell  # the instance attribute shadows the method for this process only

    def watch(self, callback: Callable[[float], bool]) -> None:
        self.watchers.append(callback)


def _when_drawn(hook: FlipHook, ready: Callable[[], bool], then: Callable[[], Any]) -> None:
    """Call `then` right after the first frame drawn once `ready()` holds (checked every clock tick,
    which comes before that tick's draw)."""
    from kivy.clock import Clock

    def drawn(_now: float) -> bool:
        then()
        return True

    def check(_dt: float) -> bool:
        if not ready():
            return True
        hook.watch(drawn)
        return False

    Clock.schedule_interval(check, 0)


def _say(marker: str) -> None:
    print(marker, flush=True)


def _child_cold_bare() -> None:
    from screens.bootstrap import prepare_kivy

    prepare_kivy(WINDOW, orientation="portrait", fullscreen=False, locked=False)  # as run_ui does
    from kivy.app import App
    from kivy.uix.label import Label

    class Bare(App):
        def build(self) -> Label:
            return Label(text="bare")

    app = Bare()
    app.bind(on_start=lambda *_: _when_drawn(FlipHook(), lambda: True, lambda: (_say(READY), app.stop())))
    app.run()


def _run_kiosk(
    state_dir: Path,
    *,
    on_start: Callable[[Any], None] | None = None,
    on_ready: Callable[[Any, Any], None] | None = None,
) -> None:
    """The demo terminal's kiosk, started as `kiosk run --config FILE` starts one: kiosk.cli (its import
    too), the file's UI settings, then its _run_ui, which passes the on_start/on_ready hooks on to
    screens.launch.run_ui (the whole config is read and validated behind the home screen)."""
    from kiosk.cli import _run_ui
    from kiosk.logs import setup_logging
    from kiosk.ui_settings import from_file

    setup_logging(os.environ.get("KIOSK_LOG_LEVEL", "WARNING"))
    settings, read_config = from_file(_config_file(state_dir))
    _run_ui(settings, read_config, locked=False, on_start=on_start, on_ready=on_ready)


def _child_cold_kiosk(state_dir: Path, url: str) -> None:
    said: list[str] = []

    def say(app: Any, marker: str) -> None:
        _say(marker)
        said.append(marker)
        if len(said) == 2:
            app.stop()

    def started(app: Any) -> None:
        from kivy.core.window import Window

        def home_drawn() -> bool:  # home is shown with its tiles (they are built when it is entered)
            tiles = [w for w in Window.children[-1].walk() if getattr(w, "tid", "") == "tile:kuasheng"]
            return app.manager.current == "home" and bool(tiles)

        _when_drawn(FlipHook(), home_drawn, lambda: say(app, READY))

    # The terminal attached: every screen is there (no frame need follow, nothing on home changes).
    _run_kiosk(state_dir, on_start=started, on_ready=lambda app, _terminal: say(app, READY_TERMINAL))


def _play(state_dir: Path, url: str, script: Callable[[Any], Iterator[Any]], name: str) -> None:
    """Run the demo kiosk and, once its terminal is open, a ScenarioRunner (its per-frame driver,
    waits and find()) playing `script(runner)`; its summary goes beside the state dir, in the
    parent's temporary directory."""
    runners: list[Any] = []

    def ready(app: Any, terminal: Any) -> None:
        # Imported here, once the window is configured and open: screens.scenario imports Kivy.
        from screens.scenario import ScenarioRunner

        class BenchRunner(ScenarioRunner):
            def scenario_bench(self) -> Iterator[Any]:
                yield from script(self)

        runners.append(BenchRunner(app, terminal, "bench", state_dir.parent / "runner"))
        runners[0].start()

    _run_kiosk(state_dir, on_ready=ready)
    if not runners or runners[0].exit_code:
        raise SystemExit(f"bench ui {name}: {runners[0].summary.get('error') if runners else 'no terminal'}")


def _press(runner: Any, tid: str) -> None:
    """Touch down and up on the centre of the widget `tid`, as ScenarioRunner.tap does."""
    from screens.touch import ScriptedTouch

    widget = runner.find(tid)
    assert widget is not None
    touch = ScriptedTouch(*widget.to_window(*widget.center))
    touch.touch_down()
    touch.touch_up()


def _go(runner: Any, tid: str, screen: str) -> Iterator[Any]:
    """Tap `tid`, wait for `screen` and one frame drawn of it: ScenarioRunner.tap then .screen wait five
    frames per step, which at ~0.1 s a frame under Xvfb would make 1,000 sessions last over an hour."""
    yield from runner.wait(lambda: runner.find(tid) is not None, f"widget {tid}")
    _press(runner, tid)
    yield from runner.wait(lambda: runner.app.manager.current == screen, f"screen {screen}")
    yield from runner.frames(1)


def _touch(
    runner: Any, hook: FlipHook, tid: str, done: Callable[[], bool], out: list[float]
) -> Iterator[Any]:
    """Tap `tid` as ScenarioRunner.tap does and append the seconds from touch-down to the buffer swap
    of the first frame drawn once `done()` holds (checked after each swap)."""
    yield from runner.wait(lambda: runner.find(tid) is not None, f"widget {tid}")
    yield from runner.frames(SETTLE_FRAMES)
    drawn: list[float] = []
    start = time.perf_counter()
    _press(runner, tid)
    # A change made during this tick is drawn by this tick's frame; a later one (a flow step comes via
    # Clock.schedule_once) by the first frame after it.
    hook.watch(lambda now: done() and (drawn.append(now) or True))
    yield from runner.wait(lambda: bool(drawn), f"frame after tapping {tid}")
    out.append(drawn[0] - start)


def _bare_button(app: Any) -> tuple[str, Callable[[], bool]]:
    """A bare Button over the top-left corner of the window (the title, no touch target) that only
    changes a Label: the baseline tap. Returns its tid and 'the label shows the last tap'."""
    from kivy.core.window import Window
    from kivy.metrics import dp
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.button import Button
    from kivy.uix.label import Label

    box = BoxLayout(size_hint=(None, None), size=(dp(240), dp(60)), pos=(0, Window.height - dp(60)))
    label = Label(text="0")
    button = Button(text="bench")
    button.tid = "bench:bare"
    taps = [0]

    def tapped(*_args: Any) -> None:
        taps[0] += 1
        label.text = str(taps[0])

    button.bind(on_release=tapped)
    box.add_widget(button)
    box.add_widget(label)
    Window.add_widget(box)
    shown = [0]

    def changed() -> bool:
        if label.text == str(taps[0]) and shown[0] != taps[0]:
            shown[0] = taps[0]
            return True
        return False

    return button.tid, changed


def _child_touch(state_dir: Path, url: str) -> None:
    rounds = _env_int("KIOSK_BENCH_TOUCH_ROUNDS", 12)
    nav: list[float] = []
    bare: list[float] = []

    def script(runner: Any) -> Iterator[Any]:
        hook = FlipHook()
        bare_tid, bare_changed = _bare_button(runner.app)
        yield from runner.screen("home")
        # Steady state: after the start-up warm-up (catalog index, pinyin tables: ~2.5 s of CPU on a
        # thread), which a citizen's first tap, seconds after a boot, rarely meets.
        yield from runner.wait(lambda: runner.app.warmed.is_set(), "the start-up warm-up", 120)
        for _ in range(rounds):
            for tid, screen in ROUND:
                yield from _touch(runner, hook, bare_tid, bare_changed, bare)
                yield from _touch(runner, hook, tid, lambda s=screen: runner.app.manager.current == s, nav)
        print(RESULT + json.dumps({"rounds": rounds, "nav": nav, "bare": bare}), flush=True)

    _play(state_dir, url, script, "touch")


def _rss_kb() -> int:
    import gc

    gc.collect()  # count what is still referenced, not garbage waiting for the collector
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def _child_memory(state_dir: Path, url: str) -> None:
    sessions = _env_int("KIOSK_BENCH_SESSIONS", DEFAULT_SESSIONS)
    marks = sorted({min(10, sessions), *(round(sessions * f / 4) for f in (1, 2, 3, 4))} - {0})
    # One sample swings by ±20 MB from session to session (a face detector's net or a camera frame
    # alive or not at that instant, the allocator's trim): each mark is the median of the samples
    # taken after each of the MARK_WINDOW sessions ending there.
    wanted = {done for mark in marks for done in range(max(1, mark - MARK_WINDOW + 1), mark + 1)}
    samples: dict[int, int] = {}
    rss: dict[int, int] = {}
    result: dict[str, Any] = {"sessions": sessions, "rss_kb": rss, "card_errors": 0}

    def session(runner: Any) -> Iterator[Any]:
        idcard = runner.terminal.sims.idcard
        yield from _go(runner, "tile:kuasheng", "catalog")
        yield from _go(runner, f"item:{DEMO_ITEM}", "guide")
        yield from _go(runner, "start", "idcard")
        idcard.insert(0)  # the citizen lays the card on the reader
        screen = runner.app.manager
        yield from runner.wait(
            lambda: screen.current == "face" or screen.current_screen.error_message is not None,
            "screen face or a card read error",
        )
        if screen.current != "face":  # seen here on a loaded machine: the simulated reader's pty timed out
            result["card_errors"] += 1
        yield from runner.frames(1)
        yield from _go(runner, "home_button", "home")
        idcard.remove()
        yield from _go(runner, "tile:query", "query")
        yield from _go(runner, "query:scan", "scan")
        yield from _go(runner, "home_button", "home")

    def script(runner: Any) -> Iterator[Any]:
        from devices.camera import IDLE_S

        yield from runner.screen("home")
        result["rss_start_kb"] = _rss_kb()
        # A kiosk after boot: the warm-up over and the cameras opened at start stopped (a 12 MP frame
        # held for IDLE_S would fall on the 10-session baseline and flatter the growth figure).
        settled = time.monotonic() + IDLE_S + 1.0
        yield from runner.wait(lambda: runner.app.warmed.is_set(), "the start-up warm-up", 120)
        yield from runner.wait(lambda: time.monotonic() > settled, "the cameras to stop", IDLE_S + 30)
        result["rss_settled_kb"] = _rss_kb()
        start = time.perf_counter()
        for done in range(1, sessions + 1):
            yield from session(runner)
            if done in wanted:
                samples[done] = _rss_kb()
            if done in marks:
                window = [samples[n] for n in range(max(1, done - MARK_WINDOW + 1), done + 1)]
                rss[done] = round(statistics.median(window))
                print(f"{done} sessions: {rss[done]} kB (of {window})", file=sys.stderr, flush=True)
        result["seconds"] = time.perf_counter() - start
        print(RESULT + json.dumps(result), flush=True)

    _play(state_dir, url, script, "memory")


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "cold-bare":
        _child_cold_bare()
    else:
        children = {"cold-kiosk": _child_cold_kiosk, "touch": _child_touch, "memory": _child_memory}
        children[mode](Path(sys.argv[2]), sys.argv[3])
