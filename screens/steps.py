"""Screens for the steps of a flow: identity, form, review, receipt, rating, farewell.

Each screen renders `app.controller.flow` and calls one flow action; blocking actions run through
`app.run_worker` so the UI never freezes.
"""

from __future__ import annotations

from functools import partial

from kivy.clock import Clock
from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.gridlayout import GridLayout
from kivy.uix.widget import Widget

from kiosk.i18n import N_, _
from screens import theme
from screens.base import KioskScreen
from screens.items import scroll_column
from screens.preview import CodeListener
from screens.widgets import BigButton, NumPad, Panel, Text

SATISFACTION = {5: N_("非常满意"), 4: N_("满意"), 3: N_("基本满意"), 2: N_("不满意"), 1: N_("非常不满意")}
# The reasons go to the platform in Chinese (好差评 codes by their words); only the buttons translate.
BAD_REASONS = [N_("等候时间长"), N_("操作太复杂"), N_("设备有故障"), N_("信息不准确"), N_("其他")]
NUMERIC_TYPES = {"phone", "number", "id_number"}
TEXT_TYPES = {"text", "address"}  # the pinyin keyboard
MAX_FIELD_CHARS = 60
SHOW_APP_CODE = N_("打开手机上的政务服务应用，出示身份码，对准下方扫码口")
NOT_IDENTITY_CODE = N_("这不是政务服务身份码，请打开手机上的政务服务应用出示身份码。")


class StepScreen(KioskScreen):
    @property
    def flow(self):
        return self.app.controller.flow

    def forget(self) -> None:
        """Drop everything shown or held for the last citizen (called when a session ends)."""
        self.body.clear_widgets()
        self.error_box = None


class IdCardScreen(StepScreen):
    title = N_("身份核验")

    def __init__(self, app, **kwargs) -> None:
        super().__init__(app, name="idcard", **kwargs)
        self._listener: CodeListener | None = None

    def refresh(self) -> None:
        self.body.clear_widgets()
        self.body.add_widget(Widget(size_hint_y=0.2))
        self.body.add_widget(
            Text(_("请将身份证放在下方读卡区"), size=theme.FONT_TITLE, halign="center", bold=True)
        )
        self.body.add_widget(
            Text(_("放好后请不要移动，读取约需 1 秒"), halign="center", color=theme.TEXT_MUTED)
        )
        card = Panel(
            bg=theme.hex_rgba("#DCE7F5"),
            radius=24,
            size_hint=(None, None),
            size=(dp(520), dp(330)),
            pos_hint={"center_x": 0.5},
        )
        card.add_widget(
            Text(_("身份证\n读卡区"), size=theme.FONT_HEADING, halign="center", color=theme.PRIMARY_DARK)
        )
        self.body.add_widget(card)
        if self.app.controller.services.scanner is not None:
            self.body.add_widget(Widget(size_hint_y=None, height=dp(40)))
            self.body.add_widget(Text(_("没带身份证？"), size=theme.FONT_HEADING, halign="center", bold=True))
            self.body.add_widget(Text(_(SHOW_APP_CODE), halign="center", color=theme.TEXT_MUTED))
        self.body.add_widget(Widget())

    def on_enter(self, *_args) -> None:
        self.read()

    def read(self) -> None:
        """The card reader and the code scanner at once: whichever the citizen uses first."""
        flow, cancel = self.flow, self.app.new_card_cancel()
        if flow is None:
            return
        self.app.run_worker(lambda: flow.read_card(cancel), lambda msg: self.show_error(msg, self.read))
        scanner = self.app.controller.services.scanner
        if scanner is not None and self._listener is None:
            self._listener = CodeListener(scanner, self._code)

    def _code(self, scan) -> None:
        self._listener = None
        flow = self.flow
        if scan.refusal or scan.kind != "identity":
            self.show_error(scan.refusal or NOT_IDENTITY_CODE, self.read)  # translated by show_error
            return
        self.app.cancel_card_read()
        retry = partial(self.show_error, retry=self.read)
        self.app.run_worker(partial(flow.login_by_code, scan.text), retry)

    def on_leave(self, *_args) -> None:
        self.app.cancel_card_read()
        if self._listener is not None:
            self._listener.stop()
            self._listener = None


class FormScreen(StepScreen):
    """Every field is a box to tap; the keyboard below follows the field: the keypad for numbers and
    dates, the pinyin keyboard for Chinese text, buttons for choices (no OS input method runs here)."""

    title = N_("填写申请信息")

    def __init__(self, app, **kwargs) -> None:
        super().__init__(app, name="form", **kwargs)
        self.values: dict[str, str] = {}
        self.focused: str | None = None
        self.inputs: dict[str, Widget] = {}

    def refresh(self) -> None:
        flow = self.flow
        self.body.clear_widgets()
        if flow is None:
            return
        self.values = dict(flow.session.form)  # e.g. the phone number the provincial app gave
        self.focused, self.inputs = None, {}
        self.specs = {spec.field: spec for spec in flow.item.form}
        self.errors: dict[str, Text] = {}
        scroll, column = scroll_column()
        for spec in flow.item.form:
            # The field's label is the catalog's (Chinese); whether it is needed is said in the language.
            column.add_widget(
                Text(spec.label + (_("（必填）") if spec.required else _("（选填）")), bold=True)
            )
            column.add_widget(self._field_widget(spec))
            error = Text("", size=theme.FONT_SMALL, color=theme.ACCENT)
            self.errors[spec.field] = error
            column.add_widget(error)
        self.body.add_widget(scroll)
        self.keyboard_area = BoxLayout(size_hint_y=None, height=0)
        self.body.add_widget(self.keyboard_area)
        submit = BigButton(_("下一步"), self._submit)
        submit.tid = "next"
        self.body.add_widget(submit)
        first = next((s.field for s in flow.item.form if s.type != "choice"), None)
        if first is not None:
            self._focus(first)

    def _field_widget(self, spec) -> Widget:
        if spec.type == "choice":
            row = BoxLayout(size_hint_y=None, height=dp(110), spacing=dp(16))
            for option in spec.options or []:
                button = BigButton(
                    option,
                    lambda o=option, f=spec.field: self._choose(f, o),
                    bg=theme.SURFACE,
                    fg=theme.TEXT,
                    size=theme.FONT_BODY,
                    height=110,
                )
                button.tid = f"choice:{spec.field}:{option}"
                row.add_widget(button)
            self.inputs[spec.field] = row
            return row
        box = BigButton(
            self._shown(spec.field),
            lambda f=spec.field: self._focus(f),
            bg=theme.SURFACE,
            fg=theme.TEXT,
            size=theme.FONT_HEADING if spec.type in NUMERIC_TYPES else theme.FONT_BODY,
            height=110,
        )
        box.tid = f"field:{spec.field}"
        self.inputs[spec.field] = box
        return box

    def _shown(self, field: str) -> str:
        value = self.values.get(field, "")
        if self.specs[field].type == "date" and not value:
            return _("年-月-日，例如 2026-01-31")
        return value

    def _focus(self, field: str) -> None:
        from screens.keyboard import PinyinKeyboard

        kind = self.specs[field].type
        wanted = "pinyin" if kind in TEXT_TYPES else "digits"
        self._flush()  # pinyin letters still in the bar belong to the field being left
        if self.focused is None or self._keyboard_kind(self.focused) != wanted:
            self.keyboard_area.clear_widgets()
            if wanted == "pinyin":
                clear = partial(self._key, "clear")
                keyboard = PinyinKeyboard(self._typed, partial(self._key, "del"), on_clear=clear)
            else:
                keyboard = NumPad(self._key, allow_x=any(s.type == "id_number" for s in self.specs.values()))
            self.keyboard_area.height = keyboard.height
            self.keyboard_area.add_widget(keyboard)
        self.focused = field
        for name, widget in self.inputs.items():
            if isinstance(widget, BigButton):
                widget._bg = theme.hex_rgba("#FFF7D6") if name == field else theme.SURFACE
                widget._sync()

    def _keyboard_kind(self, field: str) -> str:
        return "pinyin" if self.specs[field].type in TEXT_TYPES else "digits"

    def _typed(self, text: str) -> None:
        if self.focused is not None:
            self._set(self.focused, self.values.get(self.focused, "") + text)

    def _key(self, key: str) -> None:
        if self.focused is None:
            return
        spec = self.specs[self.focused]
        value = self.values.get(self.focused, "")
        if spec.type == "date":  # digits only; the dashes come by themselves: 20260131 → 2026-01-31
            value = value.replace("-", "")
            value = {"del": value[:-1], "clear": ""}.get(key, (value + key)[:8] if key.isdigit() else value)
            value = "-".join(filter(None, (value[:4], value[4:6], value[6:8])))
        else:
            value = {"del": value[:-1], "clear": ""}.get(key, value + key)
        self._set(self.focused, value[: spec.max_length or MAX_FIELD_CHARS])

    def _set(self, field: str, value: str) -> None:
        self.values[field] = value
        self.inputs[field].text = self._shown(field)

    def _choose(self, field: str, option: str) -> None:
        self.values[field] = option
        for button in self.inputs[field].children:
            button._bg = theme.PRIMARY if button.text == option else theme.SURFACE
            button.color = theme.WHITE if button.text == option else theme.TEXT
            button._sync()

    def _flush(self) -> None:
        for keyboard in self.keyboard_area.children:
            if hasattr(keyboard, "flush"):
                keyboard.flush()

    def _submit(self) -> None:
        self._flush()

        def submit() -> None:
            errors = self.flow.submit_form(self.values)
            for field, label in self.errors.items():
                label.text = errors.get(field, "")

        self.app.act(submit)

    def forget(self) -> None:
        super().forget()
        self.values, self.focused, self.inputs = {}, None, {}


class ReviewScreen(StepScreen):
    title = N_("核对信息")

    def __init__(self, app, **kwargs) -> None:
        super().__init__(app, name="review", **kwargs)

    def refresh(self) -> None:
        flow = self.flow
        self.body.clear_widgets()
        if flow is None:
            return
        self.body.add_widget(Text(_("请核对以下信息，确认无误后提交"), size=theme.FONT_HEADING, bold=True))
        panel = Panel(orientation="vertical", radius=16, size_hint_y=None, padding=dp(30), spacing=dp(14))
        muted = theme.hex_code(theme.TEXT_MUTED)
        for label, value in flow.review_lines():
            line = _("{label}：{value}").format(label=f"[color={muted}]{label}", value=f"[/color]{value}")
            panel.add_widget(Text(line, markup=True))
        panel.bind(minimum_height=panel.setter("height"))
        self.body.add_widget(panel)
        self.body.add_widget(Widget())
        self.busy = Text("", halign="center", color=theme.TEXT_MUTED)
        self.body.add_widget(self.busy)
        self.submit_button = BigButton(_("确认提交"), self._submit)
        self.submit_button.tid = "submit"
        self.body.add_widget(self.submit_button)

    def _submit(self) -> None:
        self.submit_button.disabled = True  # one touch, one application
        self.busy.text = _("正在提交，请稍候……")

        def failed(message: str) -> None:
            self.busy.text = ""
            self.submit_button.disabled = self.flow.refused  # refused for good: only 返回首页 is left
            self.show_error(message)

        self.app.run_worker(self.flow.submit, failed)


class ReceiptScreen(StepScreen):
    title = N_("提交成功")

    def __init__(self, app, **kwargs) -> None:
        super().__init__(app, name="receipt", **kwargs)

    def refresh(self) -> None:
        flow = self.flow
        self.body.clear_widgets()
        if flow is None:
            return
        session = flow.session
        self.body.add_widget(Widget(size_hint_y=0.1))
        if session.case:
            self.body.add_widget(
                Text(
                    _("申请已提交成功"),
                    size=theme.FONT_TITLE,
                    bold=True,
                    halign="center",
                    color=theme.SUCCESS,
                )
            )
            self.body.add_widget(
                Text(
                    _("办件编号：{case_no}").format(case_no=session.case["case_no"]),
                    size=theme.FONT_HEADING,
                    halign="center",
                )
            )
            self.body.add_widget(
                Text(
                    _("查询码：{code}").format(code=session.case["query_code"]),
                    size=theme.FONT_HEADING,
                    halign="center",
                )
            )
        else:
            self.body.add_widget(Text(_("申请已保存"), size=theme.FONT_TITLE, bold=True, halign="center"))
            self.body.add_widget(Text(_("网络恢复后本机将自动提交，无需再次办理。"), halign="center"))
            ref = _("终端流水号：{ref}").format(ref=session.terminal_ref)
            self.body.add_widget(Text(ref, halign="center"))
        # The paper receipt itself stays Chinese: it is the official record staff and platforms read.
        note = _(flow.receipt_problem or N_("请取走下方出纸口打印的回执，凭回执可查询办理进度。"))
        self.body.add_widget(
            Text(note, halign="center", color=theme.ACCENT if flow.receipt_problem else theme.TEXT)
        )
        self.body.add_widget(Widget())
        done = BigButton(_("下一步"), lambda: self.app.act(flow.finish_receipt))
        done.tid = "next"
        self.body.add_widget(done)


class RatingScreen(StepScreen):
    title = N_("服务评价")

    def __init__(self, app, **kwargs) -> None:
        super().__init__(app, name="rating", **kwargs)

    def refresh(self) -> None:
        self.body.clear_widgets()
        self.chosen: int | None = None
        self.reasons: set[str] = set()
        self.body.add_widget(
            Text(_("请您对本次服务进行评价"), size=theme.FONT_HEADING, bold=True, halign="center")
        )
        self.body.add_widget(Text(_("评价是自愿的，可以跳过"), halign="center", color=theme.TEXT_MUTED))
        for level, label in SATISFACTION.items():
            button = BigButton(
                _(label), lambda n=level: self._rate(n), bg=theme.SURFACE, fg=theme.TEXT, height=120
            )
            button.tid = f"rate:{level}"
            self.body.add_widget(button)
        self.reason_box = BoxLayout(orientation="vertical", size_hint_y=None, spacing=dp(12))
        self.reason_box.bind(minimum_height=self.reason_box.setter("height"))
        self.body.add_widget(self.reason_box)
        self.body.add_widget(Widget())
        skip = BigButton(_("跳过"), self._skip, bg=theme.hex_rgba("#E3E9F2"), fg=theme.TEXT)
        skip.tid = "skip"
        self.body.add_widget(skip)

    def _rate(self, level: int) -> None:
        if level > 2:
            self._send(level, [])
            return
        self.chosen = level
        self.reason_box.clear_widgets()
        self.reason_box.add_widget(Text(_("请选择不满意的原因（可多选）"), bold=True))
        # Three to a row: five in one row would wrap each reason onto two lines in 长者模式.
        rows = -(-len(BAD_REASONS) // 3)
        row = GridLayout(
            cols=3,
            spacing=dp(10),
            size_hint_y=None,
            row_force_default=True,
            row_default_height=dp(110),
            height=rows * dp(110) + (rows - 1) * dp(10),
        )
        for reason in BAD_REASONS:
            button = BigButton(
                _(reason),
                lambda r=reason: self._toggle(r),
                bg=theme.SURFACE,
                fg=theme.TEXT,
                size=theme.FONT_SMALL,
                height=110,
            )
            button.tid = f"reason:{reason}"
            row.add_widget(button)
        self.reason_box.add_widget(row)
        send = BigButton(_("提交评价"), lambda: self._send(level, sorted(self.reasons)))
        send.tid = "send_rating"
        self.reason_box.add_widget(send)

    def _toggle(self, reason: str) -> None:
        self.reasons ^= {reason}

    def _send(self, level: int, reasons: list[str]) -> None:
        flow = self.flow
        buttons = [w for w in self.body.walk() if isinstance(w, BigButton)]
        for button in buttons:
            button.disabled = True  # one rating per case, however many taps

        def failed(message: str) -> None:
            for button in buttons:
                button.disabled = False
            self.show_error(message)

        self.app.run_worker(lambda: flow.rate(level, reasons), failed)

    def _skip(self) -> None:
        self.app.act(self.flow.skip_rating)


class DoneScreen(StepScreen):
    title = N_("办理完成")
    AUTO_HOME_S = 8

    def __init__(self, app, **kwargs) -> None:
        super().__init__(app, name="done", **kwargs)

    def refresh(self) -> None:
        self.body.clear_widgets()
        self.body.add_widget(Widget(size_hint_y=0.3))
        self.body.add_widget(Text(_("感谢您的使用"), size=theme.FONT_TITLE, bold=True, halign="center"))
        flow = self.flow
        if flow is not None and flow.mode == "query":
            farewell = _("请带好您的身份证和证明")
        else:
            farewell = _("请带好您的身份证和回执")
        self.body.add_widget(Text(farewell, size=theme.FONT_HEADING, halign="center"))
        self.body.add_widget(Widget())
        home = BigButton(_("返回首页"), self.app.go_home)
        home.tid = "finish"
        self.body.add_widget(home)

    def forget(self) -> None:
        """The farewell holds nothing personal and stays on screen until it times out."""

    def on_enter(self, *_args) -> None:
        self.app.controller.end_session("finished")  # nothing personal is needed from here on
        self.app.forget_screens()
        self._auto = Clock.schedule_once(lambda _dt: self._auto_home(), self.AUTO_HOME_S)

    def _auto_home(self) -> None:
        if self.app.manager.current == "done":
            self.app.go_home()

    def on_leave(self, *_args) -> None:
        self._auto.cancel()
