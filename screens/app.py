"""The Kivy application: a top bar over a ScreenManager; screens follow the flow's current step."""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kivy.app import App
from kivy.base import ExceptionHandler, ExceptionManager
from kivy.clock import Clock
from kivy.core.text import DEFAULT_FONT, LabelBase
from kivy.core.window import Window
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.modalview import ModalView
from kivy.uix.screenmanager import NoTransition, ScreenManager

from kiosk import i18n, sdnotify
from kiosk.i18n import N_, _
from kiosk.session import IdleState
from kiosk.voice import SCREEN_PROMPTS
from screens import theme
from screens.closed import ClosedScreen
from screens.home import HomeScreen
from screens.modals import IdleWarning, notice
from screens.top_bar import AT_REST, TopBar
from screens.voice import Speaker

# Only what the home screen needs is imported above: the app draws it before the terminal (and the
# backend's libraries) is loaded; every other screen comes with the terminal (KioskApp.attach).
if TYPE_CHECKING:
    from kiosk.catalog import Item
    from kiosk.controller import KioskController
    from kiosk.flow import Step
    from kiosk.ui_settings import UiSettings

log = logging.getLogger(__name__)
SERVICE_CHECK_S = 5.0
WARM_UP_AFTER_S = 1.0  # after start: the home screen's first frames come first
UNEXPECTED = N_("系统出现问题，请返回首页重新开始，或联系工作人员。")


class _RecoverToHome(ExceptionHandler):
    """A bug in a touch handler must not end the kiosk: log it, wipe the session, go home."""

    def __init__(self, app: KioskApp) -> None:
        super().__init__()
        self.app = app

    def handle_exception(self, inst: BaseException) -> int:
        if isinstance(inst, KeyboardInterrupt | SystemExit):
            return ExceptionManager.RAISE
        log.error("unexpected UI error: %s", type(inst).__name__, exc_info=inst)
        if self.app.terminal_ready:
            self.app.controller.end_session("ui error")
        i18n.reset_language()
        self.app.forget_screens()
        self.app.show("home")
        return ExceptionManager.PASS


class KioskApp(App):
    """The kiosk's UI. It can be shown before its terminal is open: `attach(controller)` then comes
    later (kiosk.terminal_loader), and until it does the home screen is drawn and answers touches,
    a tap that needs the terminal waiting for it (`when_ready`)."""

    def __init__(self, ui_settings: UiSettings, *, font_path: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ui_settings = ui_settings  # not `settings`: kivy's App has its own
        self._controller: KioskController | None = None
        self.font_path = font_path
        self.selected_item: Item | None = None
        self.title = "政务服务自助终端"
        self._built = False
        self._warning = IdleWarning(self._stay)
        self._cancel_card: threading.Event | None = None
        self._pending: Callable[[], Any] | None = None  # a tap made before the terminal was open
        self._waiting_view: ModalView | None = None
        self.speaker = Speaker(ui_settings.state_dir / "voice")
        # With a simulated face camera: kiosk.facepose_sim.CameraActor, who does what the check asks.
        self.simulated_face: Any = None
        self.warmed = threading.Event()  # set once _warm_up is done (benchmarks measure after it)
        self._last_touch = time.monotonic()  # an English home screen left alone goes back to Chinese

    @property
    def controller(self) -> KioskController:
        if self._controller is None:
            raise RuntimeError("the terminal is not open yet (see KioskApp.when_ready)")
        return self._controller

    @property
    def terminal_ready(self) -> bool:
        return self._controller is not None

    @property
    def elderly(self) -> bool:
        return self._controller is not None and self._controller.elderly

    # -- construction ----------------------------------------------------------------------
    def build(self) -> BoxLayout:
        LabelBase.register(DEFAULT_FONT, str(self.font_path))  # every widget renders Chinese
        Window.clearcolor = theme.BACKGROUND
        root = BoxLayout(orientation="vertical")
        self.top_bar = TopBar(self)
        self.manager = ScreenManager(transition=NoTransition())
        self.manager.add_widget(HomeScreen(self))
        self.manager.add_widget(ClosedScreen(self))
        self.manager.bind(current=lambda *_: self._update_title())
        # systemd (kiosk.service, Type=notify): a watchdog ping from this loop, so that a frozen UI is
        # restarted; ready once the terminal is open (_complete). Outside systemd both are no-ops.
        Clock.schedule_interval(lambda _dt: sdnotify.watchdog(), sdnotify.UI_PING_S)
        root.add_widget(self.top_bar)
        root.add_widget(self.manager)
        Window.bind(on_touch_down=lambda *_: self._touched())
        ExceptionManager.add_handler(_RecoverToHome(self))
        Clock.schedule_interval(self._tick, 1.0)
        self._update_title()
        self._built = True
        if self._controller is not None:
            self._complete()
        return root

    def attach(self, controller: KioskController) -> None:
        """The terminal is open: every screen and the work that needs it can start. On the main
        thread; before `run()` (tests, scenarios) or while the home screen is shown."""
        self._controller = controller
        if self._built:
            self._complete()

    def _complete(self) -> None:
        from screens.screen_list import step_screens

        for screen_class in step_screens():
            self.manager.add_widget(screen_class(self))
        from screens.maintenance import install as install_maintenance

        install_maintenance(self)  # the hidden gesture on the top bar, the PIN, the log buffer
        # The pinyin tables and readings (a child process builds them the first time, ~3 s): in the
        # background, not on a citizen's first key; and a moment after the home screen is drawn, so
        # that its first frames do not share the CPU with them.
        Clock.schedule_once(lambda _dt: self._warm_up(), WARM_UP_AFTER_S)
        Clock.schedule_interval(self._check_service, SERVICE_CHECK_S)
        Clock.schedule_once(self._check_service)
        Clock.schedule_once(lambda _dt: sdnotify.ready("kiosk UI up"))
        self._update_title()
        if self._waiting_view is not None:
            self._waiting_view.dismiss()
            self._waiting_view = None
        pending, self._pending = self._pending, None
        if pending is not None:
            pending()

    def when_ready(self, action: Callable[[], Any]) -> None:
        """Run `action` (a tap's) now, or once the terminal is open: in the first second or so after
        a start, the citizen is asked to wait a moment. The last tap made meanwhile is the one done."""
        if self.terminal_ready:
            action()
            return
        self._pending = action
        if self._waiting_view is None:
            self._waiting_view = notice(_("正在准备，请稍候。"))

    @property
    def screen(self) -> Any:
        return self.manager.current_screen

    def _update_title(self) -> None:
        elderly, current = self.elderly, self.manager.current
        title = _(self.screen.title)  # titles are N_-marked Chinese msgids
        self.top_bar.update(title, current, elderly=elderly, muted=self.speaker.muted)
        self.speaker.enabled = elderly
        self.speaker.say(SCREEN_PROMPTS.get(current))

    # -- navigation ------------------------------------------------------------------------
    def show(self, name: str) -> None:
        self.manager.current = name

    def go_home(self) -> None:
        if self.terminal_ready and self.controller.busy:
            return  # a submission is being stored and sent; the citizen sees its progress
        self.cancel_card_read()
        self._dismiss_warning()
        self.speaker.stop()
        self.speaker.muted = False
        self.top_bar.translate(muted=False)
        if self.terminal_ready:
            self.controller.end_session("home")
        i18n.reset_language()  # whoever comes next starts in Chinese
        self.forget_screens()
        already_home = self.manager.current == "home"
        self.show("home")
        if already_home:  # no change of screen to rebuild it: the English home must go
            self.screen.refresh()
            self._update_title()
        self._check_service()

    def set_language(self, lang: str) -> None:
        """The home screen's language switch: this screen and the bar now, every later screen on entry."""
        i18n.set_language(lang)
        self.screen.refresh()
        self._update_title()

    def forget_screens(self) -> None:
        """Clear what step screens still show or hold of the citizen (values, numbers, preview)."""
        for screen in self.manager.screens:
            forget = getattr(screen, "forget", None)
            if forget is not None:
                forget()

    def open_catalog(self, filter_name: str) -> None:
        self.manager.get_screen("catalog").filter_name = filter_name
        self.show("catalog")

    def open_item(self, item: Item) -> None:
        self.selected_item = item
        self.show("guide")

    def lookup_case(self, case_no: str, query_code: str, on_error: Callable[[str], None]) -> None:
        """Case progress (§5.8) on a worker thread, then the progress screen."""
        from kiosk.query import case_progress

        platform = self.controller.services.platform

        def show(progress: Any) -> None:
            self.manager.get_screen("progress").progress = progress
            self.show("progress")

        self.run_worker(lambda: case_progress(platform, case_no, query_code), on_error, show)

    def start_flow(self, item: Item, mode: str) -> None:
        from kiosk.flow import FlowError

        try:
            flow = self.controller.start(item, mode)
        except FlowError as err:  # out of service since the citizen came in: say so, then close
            self.screen.show_error(err.message)
            return
        flow.on_step(lambda step: self._schedule_follow(flow, step))
        flow.begin()

    def _schedule_follow(self, flow: Any, step: Step) -> None:
        # A step made by a touch (on this thread): before this frame is drawn (-1), once the flow's
        # action has returned, so its screen shows in the same frame. A step a worker made (face
        # verified, card read): the next frame, the Clock's plain cross-thread path.
        on_ui_thread = threading.current_thread() is threading.main_thread()
        Clock.schedule_once(lambda _dt: self._follow(flow, step), -1 if on_ui_thread else 0)

    def _follow(self, flow: Any, step: Step) -> None:
        if self.controller.flow is not flow:
            return  # that session ended while the step change was on its way
        if self.manager.current == step.value:  # the same step again (the next material): start afresh
            self.screen.on_pre_leave()
            self.screen.on_pre_enter()
            self.screen.on_enter()
            return
        self.show(step.value)

    def act(self, action: Callable[[], Any]) -> None:
        """Run a quick flow action on the UI thread; a refusal (double tap…) becomes a message."""
        from kiosk.flow import FlowError

        try:
            action()
        except FlowError as err:
            self.screen.show_error(err.message)

    # -- background work -------------------------------------------------------------------
    def run_worker(
        self,
        work: Callable[[], Any],
        on_error: Callable[[str], None],
        on_done: Callable[[Any], None] | None = None,
    ) -> None:
        """Run blocking device/platform work off the UI thread; results come back on the UI thread,
        and only while the session that asked for them is still the current one."""
        from kiosk.flow import FlowError

        flow = self.controller.flow

        def deliver(callback: Callable[[Any], None], value: Any) -> None:
            def on_main_thread(_dt: float) -> None:
                if self.controller.flow is flow:
                    callback(value)

            Clock.schedule_once(on_main_thread)

        def target() -> None:
            try:
                result = work()
            except FlowError as err:
                deliver(on_error, err.message)
                return
            except Exception:  # the citizen gets a way forward; the log gets the type, never the data
                log.exception("unexpected error in a worker")
                deliver(on_error, _(UNEXPECTED))
                return
            if on_done is not None:
                deliver(on_done, result)

        threading.Thread(target=target, daemon=True, name="kiosk-worker").start()

    def cancel_card_read(self) -> None:
        if self._cancel_card is not None:
            self._cancel_card.set()

    def new_card_cancel(self) -> threading.Event:
        self._cancel_card = threading.Event()
        return self._cancel_card

    # -- voice -----------------------------------------------------------------------------
    def toggle_mute(self) -> None:
        self.speaker.muted = not self.speaker.muted
        if self.speaker.muted:
            self.speaker.stop()
        self.top_bar.translate(muted=self.speaker.muted)

    # -- help ------------------------------------------------------------------------------
    def call_staff(self) -> None:
        """From any screen: staff and operators are told; the citizen is told someone is coming."""
        self.controller.request_help(self.manager.current)
        notice(_("已通知工作人员，请稍候。"), closable=True)

    def _warm_up(self) -> None:
        """What the first taps would otherwise wait for, most likely first: the catalog's search index
        (every item's pinyin, read from kiosk.pinyin_data: ~0.1 s, ~1 s for a new catalog; the first
        tile tap opens the catalog), the English catalog (Babel compiles the .po in ~0.1 s), then the
        pinyin keyboard's tables (opened in ~0.05 s, built in ~3 s the first time)."""
        from kiosk import pinyin_ime

        catalog = self.manager.get_screen("catalog")

        def warm() -> None:
            catalog.index()
            i18n.load("en")
            pinyin_ime.warm_up()
            # Everything made so far lives as long as the app (modules, screens, the index above,
            # many objects): out of the collector's sight, so that a full collection during a
            # citizen's tap scans only what sessions make (touch p95 on the bench: 277 → 161 ms).
            gc.freeze()
            self.warmed.set()

        threading.Thread(target=warm, daemon=True, name="warm-up").start()

    # -- in/out of service ------------------------------------------------------------------
    def _check_service(self, _dt: float = 0.0) -> None:
        """Between sessions only: a citizen already at work finishes (or is told at submit)."""
        if not self.terminal_ready:
            return
        if self.controller.session is not None or self.manager.current not in AT_REST:
            return
        if self.controller.refresh_catalog():  # a new catalog from the platform: index it now
            catalog = self.manager.get_screen("catalog")
            threading.Thread(target=catalog.index, daemon=True, name="catalog-index").start()
        service = self.controller.service_state()
        closed = self.manager.get_screen("closed")
        if not service.in_service and (self.manager.current != "closed" or closed.message != service.message):
            log.warning("out of service: %s", service.reason)
            closed.message = service.message
            if self.manager.current == "closed":
                closed.refresh()  # another reason now: say the new one
            else:
                self.show("closed")
        elif service.in_service and self.manager.current == "closed":
            log.info("back in service")
            self.show("home")

    # -- inactivity ------------------------------------------------------------------------
    def _touched(self) -> None:
        self._last_touch = time.monotonic()
        if self.terminal_ready:
            self.controller.user_activity()

    def _tick(self, _dt: float) -> None:
        if not self.terminal_ready:
            return  # no session can have started
        away = self.manager.current not in AT_REST
        state = self.controller.tick(away)
        left = int(self.controller.idle.remaining())
        # then home, wiped (warned first)
        self.top_bar.countdown.text = _("{seconds} 秒").format(seconds=left) if away else ""
        if (
            not away
            and i18n.current_language() != i18n.DEFAULT_LANGUAGE
            and time.monotonic() - self._last_touch > self.controller.idle.timeout_s
        ):  # English chosen, then nobody started: the next citizen finds Chinese
            log.info("idle on home: back to Chinese")
            self.go_home()
        if state is IdleState.EXPIRED:
            log.info("idle timeout: back to home")
            self.go_home()
        elif state is IdleState.WARNING:
            self._show_warning(left)
        else:
            self._dismiss_warning()

    def _show_warning(self, left: int) -> None:
        self._warning.show(left)

    def _stay(self) -> None:
        self.controller.user_activity()
        self._dismiss_warning()

    def _dismiss_warning(self) -> None:
        self._warning.dismiss()
