"""Maintenance mode on the kiosk screen: the hidden gesture, the technician PIN, the maintenance page.

Five taps in the top bar's left corner within 3 s open the PIN screen (the citizen session, if any, is
ended first: nothing of it stays on screen). The maintenance page shows the devices with counters and
what each fault needs, runs self-tests, the printer's test page and the platform check on worker
threads, lists recent (redacted) log lines and takes the kiosk in or out of service. Leaving by any
way (退出维护, 首页, the idle timeout) goes home and forgets everything the session showed or typed.
The work itself is kiosk.maintenance; this module only shows it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kivy.clock import Clock
from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.scrollview import ScrollView
from kivy.uix.widget import Widget

from kiosk.maintenance import RECENT_LOGS, Maintenance, Result, TapCounter
from kiosk.maintenance_pin import PinCheck
from screens import theme
from screens.base import KioskScreen
from screens.widgets import BigButton, LineText, NumPad, Panel, Text

if TYPE_CHECKING:
    from screens.app import KioskApp

log = logging.getLogger(__name__)
CORNER_DP = 200  # the gesture's corner: this wide from the top bar's left edge
PIN_SHOWN_MAX = 12
REFRESH_S = 2.0  # device rows follow the device manager's poll
LOG_LINES = 25
LIGHT = theme.hex_rgba("#E3E9F2")  # a section band; TEXT on it 11:1
WAIT = "正在检查，请稍候……"
NO_PIN = "本机未设置维护密码。请用 kiosk maintenance set-pin 设置。"


def install(app: KioskApp) -> None:
    """Called once from KioskApp.build(): the maintenance services, the log buffer, the gesture."""
    app.maintenance = Maintenance(app.controller.services)
    RECENT_LOGS.install()
    taps = TapCounter()

    def on_touch_down(bar: Widget, touch: Any) -> bool:
        if bar.collide_point(*touch.pos) and touch.x - bar.x <= dp(CORNER_DP) and taps.tap():
            Clock.schedule_once(lambda _dt: enter(app))
        return False  # the touch goes on as usual

    app.top_bar.bind(on_touch_down=on_touch_down)


def enter(app: KioskApp) -> None:
    """End any citizen session (wiped, screens forgotten) and ask for the PIN."""
    if app.controller.busy:
        return  # a submission is being stored: let it finish
    app.go_home()
    log.info("maintenance: PIN screen opened")
    app.show("maintenance_pin")


class MaintenancePinScreen(KioskScreen):
    title = "维护模式"

    def __init__(self, app: KioskApp, **kwargs: Any) -> None:
        super().__init__(app, name="maintenance_pin", **kwargs)
        self._digits: list[str] = []
        self.message = ""

    def refresh(self) -> None:
        self.body.clear_widgets()
        guard = self.app.maintenance.pin
        locked = guard.locked_for()
        if not self.message and (locked or not guard.has_pin()):
            self.message = PinCheck(False, locked_for_s=locked, tries_left=0).message if locked else NO_PIN
        self.body.add_widget(Text("技术人员维护", size=theme.FONT_TITLE, bold=True, halign="center"))
        self.body.add_widget(Text("请输入维护密码", halign="center", color=theme.TEXT_MUTED))
        box = Panel(bg=theme.SURFACE, radius=16, size_hint_y=None, height=dp(130), padding=(dp(30), 0))
        self.display = LineText("", size=theme.FONT_HEADING, color=theme.TEXT)
        self.display.halign = "center"
        self.display.tid = "pin:display"
        box.add_widget(self.display)
        self.body.add_widget(box)
        self.notice = Text(self.message, size=theme.FONT_BODY, color=theme.ACCENT, halign="center")
        self.notice.tid = "pin:message"
        self.body.add_widget(self.notice)
        self.body.add_widget(NumPad(self.on_key))
        row = BoxLayout(size_hint_y=None, height=dp(theme.BUTTON_HEIGHT), spacing=dp(20))
        ok = BigButton("确定", self.submit)
        ok.tid = "pin:ok"
        cancel = BigButton("返回首页", self.app.go_home, bg=theme.SURFACE, fg=theme.PRIMARY)
        cancel.tid = "pin:cancel"
        row.add_widget(cancel)
        row.add_widget(ok)
        self.body.add_widget(row)
        self.body.add_widget(Widget())
        self._show_digits()

    def on_key(self, key: str) -> None:
        if key == "del":
            if self._digits:
                self._digits.pop()
        elif key == "clear":
            self._digits.clear()
        elif key.isdigit() and len(self._digits) < PIN_SHOWN_MAX:
            self._digits.append(key)
        self._show_digits()

    def _show_digits(self) -> None:
        self.display.text = " ".join("●" * len(self._digits)) or "　"  # never the digits

    def submit(self) -> None:
        if not self._digits:
            return  # an empty 确定 is a slip of the finger, not a wrong PIN
        pin, self._digits = "".join(self._digits), []
        check = self.app.maintenance.pin.verify(pin)
        del pin
        if check.ok:
            self.message = ""
            self.app.manager.get_screen("maintenance").granted = True
            self.app.show("maintenance")
            return
        self.message = check.message
        self.notice.text = check.message
        self._show_digits()

    def on_leave(self, *_args: Any) -> None:
        self.forget()

    def forget(self) -> None:
        self._digits.clear()
        self.message = ""
        self.body.clear_widgets()


class MaintenanceScreen(KioskScreen):
    title = "维护模式"

    def __init__(self, app: KioskApp, **kwargs: Any) -> None:
        super().__init__(app, name="maintenance", **kwargs)
        self.granted = False  # set by the PIN screen; one visit each
        self._generation = 0  # results of a left session are dropped
        self._running: set[str] = set()
        self._results: dict[str, BoxLayout] = {}
        self._poll: Any = None
        self._shown_devices: list[tuple[Any, ...]] = []
        self.last_results: dict[str, Result] = {}

    # -- entering and leaving --------------------------------------------------------------------
    def on_pre_enter(self, *_args: Any) -> None:
        if not self.granted:  # reached without the PIN: not shown
            Clock.schedule_once(lambda _dt: self.app.go_home())
            return
        log.info("maintenance: entered")
        super().on_pre_enter()
        self._poll = Clock.schedule_interval(lambda _dt: self._fill_devices(), REFRESH_S)

    def on_leave(self, *_args: Any) -> None:
        self.forget()

    def forget(self) -> None:
        if self.granted:
            log.info("maintenance: left")
        self.granted = False
        self._generation += 1
        self._running.clear()
        self._results.clear()
        self.last_results.clear()
        self._shown_devices = []
        if self._poll is not None:
            self._poll.cancel()
            self._poll = None
        self.body.clear_widgets()

    def leave(self) -> None:
        self.app.go_home()  # wipes this screen (forget_screens) and shows 暂停服务 if out of service

    # -- the page --------------------------------------------------------------------------------
    def refresh(self) -> None:
        self.body.clear_widgets()
        self.body.padding = (dp(30), dp(20))
        self.body.spacing = dp(16)
        scroll = ScrollView(do_scroll_x=False, bar_width=dp(10))
        page = BoxLayout(orientation="vertical", size_hint_y=None, spacing=dp(18))
        page.bind(minimum_height=page.setter("height"))
        page.add_widget(self._service_panel())
        page.add_widget(_heading("设备状态"))
        self._devices_box = BoxLayout(orientation="vertical", size_hint_y=None, spacing=dp(14))
        self._devices_box.bind(minimum_height=self._devices_box.setter("height"))
        page.add_widget(self._devices_box)
        page.add_widget(_heading("打印与网络"))
        page.add_widget(self._checks_panel())
        page.add_widget(self._logs_panel())
        scroll.add_widget(page)
        self.scroll = scroll
        self.body.add_widget(scroll)
        leave = BigButton("退出维护", self.leave, bg=theme.PRIMARY)
        leave.tid = "maint:exit"
        self.body.add_widget(leave)
        self._shown_devices = []
        self._fill_devices()

    def _service_panel(self) -> Panel:
        config = self.app.controller.services.config
        panel = _card()
        panel.add_widget(Text(f"终端 {config.terminal.id}\n{config.terminal.hall_name}", bold=True))
        row = BoxLayout(size_hint_y=None, height=dp(110), spacing=dp(20))
        self.service_text = Text("", size=theme.FONT_BODY, size_hint_x=0.55)
        self.service_text.tid = "maint:service_state"
        self.service_text.pos_hint = {"center_y": 0.5}
        self.service_button = BigButton("", self._toggle_service, size=theme.FONT_BODY, height=100)
        self.service_button.size_hint_x = 0.45
        row.add_widget(self.service_text)
        row.add_widget(self.service_button)
        panel.add_widget(row)
        self._show_service()
        return panel

    def _show_service(self) -> None:
        state = self.app.maintenance.service_state()
        if state.in_service:
            self.service_text.text, self.service_text.color = "服务状态：正常服务", theme.SUCCESS
            self.service_button.text, self.service_button.tid = "暂停服务", "maint:out_of_service"
        else:
            reason = "" if state.reason == "remote" else "\n（存储故障，见日志）"
            self.service_text.text, self.service_text.color = f"服务状态：暂停服务{reason}", theme.ACCENT
            self.service_button.text, self.service_button.tid = "恢复服务", "maint:in_service"

    def _toggle_service(self) -> None:
        self.app.maintenance.set_in_service(not self.app.maintenance.service_state().in_service)
        self._show_service()

    def _fill_devices(self, force: bool = False) -> None:
        if not self.granted:
            return
        rows = self.app.maintenance.devices()
        shown = [(r.name, r.state, r.ok, r.what_to_do, r.counters_text) for r in rows]
        if shown == self._shown_devices and not force:
            return  # unchanged: a rebuild under a finger would swallow its tap
        self._shown_devices = shown
        box = self._devices_box
        box.clear_widgets()
        for row in rows:
            card = _card()
            head = BoxLayout(size_hint_y=None, height=dp(100), spacing=dp(20))
            colour = theme.SUCCESS if row.ok else theme.ACCENT
            name = LineText(f"{row.label}：{row.state_label}", size=theme.FONT_BODY, color=colour)
            name.tid = f"device:{row.name}"
            head.add_widget(name)
            test = BigButton("自检", lambda n=row.name: self._self_test(n), size=theme.FONT_BODY, height=90)
            test.size_hint_x, test.width = None, dp(180)
            test.tid = f"selftest:{row.name}"
            head.add_widget(test)
            card.add_widget(head)
            card.add_widget(Text(row.counters_text, size=theme.FONT_SMALL, color=theme.TEXT_MUTED))
            if row.what_to_do:
                todo = Text(row.what_to_do, size=theme.FONT_SMALL, color=theme.ACCENT)
                todo.tid = f"device_action:{row.name}"
                card.add_widget(todo)
            card.add_widget(self._result_box(f"selftest:{row.name}"))
            box.add_widget(card)

    def _checks_panel(self) -> Panel:
        panel = _card()
        row = BoxLayout(size_hint_y=None, height=dp(theme.BUTTON_HEIGHT), spacing=dp(20))
        maintenance = self.app.maintenance
        printer = BigButton("打印测试页", lambda: self._run("print", maintenance.print_test_page))
        printer.tid = "maint:print"
        platform = BigButton("网络与平台检查", lambda: self._run("platform", maintenance.platform_check))
        platform.tid = "maint:platform"
        row.add_widget(printer)
        row.add_widget(platform)
        panel.add_widget(row)
        panel.add_widget(self._result_box("print"))
        panel.add_widget(self._result_box("platform"))
        return panel

    def _logs_panel(self) -> Panel:
        panel = _card(bg=LIGHT)
        head = BoxLayout(size_hint_y=None, height=dp(100), spacing=dp(20))
        head.add_widget(LineText("最近日志（已脱敏）", size=theme.FONT_HEADING, color=theme.TEXT, bold=True))
        again = BigButton("刷新", self._show_logs, size=theme.FONT_BODY, height=90)
        again.size_hint_x, again.width = None, dp(180)
        again.tid = "maint:logs"
        head.add_widget(again)
        panel.add_widget(head)
        self.logs_text = Text("", size=theme.FONT_SMALL, color=theme.TEXT)
        self.logs_text.tid = "maint:log_lines"
        panel.add_widget(self.logs_text)
        self._show_logs()
        return panel

    def _show_logs(self) -> None:
        lines = self.app.maintenance.recent_logs(LOG_LINES)
        self.logs_text.text = "\n".join(lines) if lines else "（暂无日志）"

    def _result_box(self, key: str) -> BoxLayout:
        """Where an action's result shows; empty (no height) until there is one."""
        box = BoxLayout(orientation="vertical", size_hint_y=None, height=0)
        box.bind(minimum_height=box.setter("height"))
        self._results[key] = box
        result = self.last_results.get(key)
        if result is not None:
            self._show_result(key, result.text, theme.SUCCESS if result.ok else theme.ACCENT)
        elif key in self._running:
            self._show_result(key, WAIT, theme.TEXT_MUTED)
        return box

    def _show_result(self, key: str, words: str, colour: tuple[float, ...]) -> None:
        box = self._results.get(key)
        if box is None:
            return
        box.clear_widgets()
        text = Text(words, size=theme.FONT_SMALL, color=colour)
        text.tid = f"result:{key}"
        box.add_widget(text)

    # -- actions on worker threads ---------------------------------------------------------------
    def _self_test(self, name: str) -> None:
        self._run(f"selftest:{name}", lambda: self.app.maintenance.self_test(name))

    def _run(self, key: str, work: Callable[[], Result]) -> None:
        if key in self._running:
            return
        self._running.add(key)
        self.last_results.pop(key, None)
        self._show_result(key, WAIT, theme.TEXT_MUTED)
        generation = self._generation

        def target() -> None:
            try:
                result = work()
            except Exception as err:  # a bug must not leave the technician waiting forever
                log.exception("maintenance: %s failed", key)
                result = Result(False, "检查出错", [type(err).__name__])
            Clock.schedule_once(lambda _dt: self._done(generation, key, result))

        threading.Thread(target=target, daemon=True, name=f"maintenance-{key}").start()

    def _done(self, generation: int, key: str, result: Result) -> None:
        if generation != self._generation:
            return  # the technician left meanwhile: nothing of it is shown again
        self._running.discard(key)
        self.last_results[key] = result
        self._show_result(key, result.text, theme.SUCCESS if result.ok else theme.ACCENT)
        self._fill_devices()  # a self-test may have changed a state
        self._show_logs()


def _card(bg: tuple[float, ...] = theme.SURFACE) -> Panel:
    panel = Panel(orientation="vertical", bg=bg, radius=16, size_hint_y=None, padding=dp(24))
    panel.spacing = dp(10)
    panel.bind(minimum_height=panel.setter("height"))
    return panel


def _heading(text: str) -> LineText:
    heading = LineText(text, size=theme.FONT_HEADING, color=theme.PRIMARY, bold=True)
    heading.size_hint_y, heading.height = None, dp(70)
    return heading
