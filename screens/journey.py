"""The steps between the form and the review that only some items need: e-licences (with consent),
the 告知承诺书 with a handwritten signature, 形式审查 (异地代收代办), the delivery choice, and the
certificate print of a 查询打印 item. Each renders `app.controller.flow` and calls one flow action."""

from __future__ import annotations

from collections.abc import Callable

from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.scrollview import ScrollView
from kivy.uix.widget import Widget

from kiosk.delivery import METHOD_NAMES
from kiosk.i18n import N_, _
from screens import theme
from screens.items import scroll_column
from screens.steps import StepScreen
from screens.widgets import BigButton, Panel, Text

PRINTING = N_("正在调取并打印证明，请稍候……")
NOT_PRINTED = N_("证明没有打印出来。")
NOT_FOUND = N_("没有找到电子证照，下一步请拍摄纸质材料。")
CONSENT = N_(
    "本机将凭您刚才的身份核验结果，向政务服务平台调取您本人的电子证照，仅用于办理本事项，不在本机保存。"
)


def button_row(*buttons: BigButton) -> BoxLayout:
    row = BoxLayout(size_hint_y=None, height=dp(theme.BUTTON_HEIGHT), spacing=dp(20))
    for button in buttons:
        row.add_widget(button)
    return row


def secondary(text: str, action: Callable[[], None], tid: str) -> BigButton:
    button = BigButton(text, action, bg=theme.SURFACE, fg=theme.PRIMARY)
    button.tid = tid
    return button


def primary(text: str, action: Callable[[], None], tid: str) -> BigButton:
    button = BigButton(text, action)
    button.tid = tid
    return button


def headed_column(heading: str) -> tuple[ScrollView, BoxLayout]:
    """A scrolling column that starts with a heading."""
    scroll, column = scroll_column()
    column.add_widget(Text(heading, size=theme.FONT_HEADING, bold=True))
    return scroll, column


def card(lines: list[tuple[str, tuple[float, ...]]]) -> Panel:
    """A white panel of short lines (the first bold), each in its colour."""
    panel = Panel(orientation="vertical", radius=16, size_hint_y=None, padding=dp(24), spacing=dp(8))
    for i, (text, colour) in enumerate(lines):
        panel.add_widget(Text(text, color=colour, bold=i == 0))
    panel.bind(minimum_height=panel.setter("height"))
    return panel


class JourneyScreen(StepScreen):
    """A step screen named `screen_name` whose body is rebuilt from the flow (left empty without one)."""

    screen_name = ""

    def __init__(self, app, **kwargs) -> None:
        super().__init__(app, name=self.screen_name, **kwargs)

    def refresh(self) -> None:
        self.body.clear_widgets()
        flow = self.flow
        if flow is not None:
            self.render(flow)

    def render(self, flow) -> None:
        """Fill the cleared body for `flow` (screens override)."""
        raise NotImplementedError


class LicensesScreen(JourneyScreen):
    """Consent first; then what the platform had, material by material."""

    title = N_("电子证照")
    screen_name = "licenses"

    def render(self, flow) -> None:
        if not flow.licenses_fetched:
            scroll, column = headed_column(_("是否同意调取您的电子证照？"))
            column.add_widget(Text(_(CONSENT)))
            column.add_widget(Text(_("可以代替以下材料，无需再拍纸质件："), bold=True))
            for material in flow.licensable:
                column.add_widget(card([(material.name, theme.TEXT)]))
            self.body.add_widget(scroll)
            self.body.add_widget(
                button_row(
                    secondary(_("不同意，拍纸质材料"), lambda: self._consent(False), "license:decline"),
                    primary(_("同意调取"), lambda: self._consent(True), "license:agree"),
                )
            )
            return
        covered = flow.session.licenses
        scroll, column = headed_column(_("电子证照调取结果"))
        for material in flow.licensable:
            lic = covered.get(material.code)
            if lic is None:
                lines = [(material.name, theme.TEXT), (_(NOT_FOUND), theme.ACCENT)]
            else:  # the licence's name and issuer are the platform's, in Chinese
                valid = (
                    _("，有效期至 {date}").format(date=lic["valid_until"]) if lic.get("valid_until") else ""
                )
                lines = [
                    (material.name, theme.TEXT),
                    (
                        _("已调取：{name}（{issuer}）").format(name=lic["name"], issuer=lic["issuer"]),
                        theme.SUCCESS,
                    ),
                    (
                        _("{level} 级电子证照{valid}").format(level=lic["level"], valid=valid),
                        theme.TEXT_MUTED,
                    ),
                ]
            column.add_widget(card(lines))
        self.body.add_widget(scroll)
        next_step = primary(_("下一步"), lambda: self.app.act(flow.finish_licenses), "next")
        self.body.add_widget(button_row(next_step))

    def _consent(self, agree: bool) -> None:
        flow = self.flow
        self.app.run_worker(lambda: flow.consent_licenses(agree), lambda msg: self.show_error(msg))


class CommitmentScreen(JourneyScreen):
    """告知承诺书: the text to read, a signature on screen, 确认签名."""

    title = N_("告知承诺")
    screen_name = "commitment"

    def render(self, flow) -> None:
        from screens.signature import SignaturePad

        scroll, column = headed_column(_("请阅读告知承诺书"))
        column.add_widget(Text(flow.commitment_text))  # the item's legal text: Chinese, as published
        scroll.size_hint_y = 0.45
        self.body.add_widget(scroll)
        self.body.add_widget(Text(_("本人已阅读并承诺以上内容属实，请在下方签名："), bold=True))
        self.pad = SignaturePad(on_done=self._signed)
        self.body.add_widget(self.pad)

    def _signed(self, png: bytes) -> None:
        flow = self.flow
        self.app.act(lambda: flow.sign_commitment(png))

    def forget(self) -> None:
        super().forget()
        self.pad = None


class ChecklistScreen(JourneyScreen):
    """形式审查: every required material with what was given for it; what is missing blocks 提交."""

    title = N_("材料审查")
    screen_name = "checklist"

    def render(self, flow) -> None:
        scroll, column = headed_column(_("请核对申请材料是否齐全"))
        for material, source, text in flow.checklist():
            mark, colour = ("√", theme.SUCCESS) if source else ("×", theme.ACCENT)  # glyphs the CJK font has
            if not source and not material.required:
                mark, colour = "—", theme.TEXT_MUTED
            panel = card([(f"{mark} {material.name}", theme.TEXT), (text, colour)])
            if source is None and flow.materials.can_rescan(material):
                code = material.code
                panel.add_widget(secondary(_("补拍"), lambda c=code: self._rescan(c), f"rescan:{code}"))
            column.add_widget(panel)
        self.body.add_widget(scroll)
        self.body.add_widget(button_row(primary(_("材料齐全，下一步"), self._check, "next")))

    def _check(self) -> None:
        self.app.act(self.flow.pass_checklist)

    def _rescan(self, code: str) -> None:
        flow = self.flow
        self.app.act(lambda: flow.rescan(code))


class DeliveryScreen(JourneyScreen):
    """邮寄 / 自取 / 网上领取; for mail, the region picker then the street and number."""

    title = N_("领取方式")
    screen_name = "delivery"

    def __init__(self, app, **kwargs) -> None:
        super().__init__(app, **kwargs)
        self.region: tuple[str, str] | None = None  # (code, "省 市 区县")
        self.detail = ""

    def render(self, flow) -> None:
        self.region, self.detail = None, ""
        self.body.add_widget(Text(_("办理结果您想怎样领取？"), size=theme.FONT_HEADING, bold=True))
        for method in flow.item.delivery:
            button = BigButton(
                _(METHOD_NAMES[method]), lambda m=method: self._choose(m), bg=theme.SURFACE, fg=theme.PRIMARY
            )
            button.tid = f"delivery:{method}"
            self.body.add_widget(button)
        self.body.add_widget(Widget())

    def _choose(self, method: str) -> None:
        if method == "mail":
            self._pick_region()
        else:
            flow = self.flow
            self.app.act(lambda: flow.choose_delivery(method))

    def _pick_region(self) -> None:
        from screens.region_picker import RegionPicker

        self.body.clear_widgets()
        self.body.add_widget(Text(_("请选择收件地址：省 → 市 → 区县"), size=theme.FONT_HEADING, bold=True))
        self.body.add_widget(RegionPicker(on_done=self._region_chosen))

    def _region_chosen(self, code: str, names: list[str]) -> None:
        from screens.keyboard import PinyinKeyboard

        self.region = (code, " ".join(names))
        self.detail = ""
        self.body.clear_widgets()
        self.body.add_widget(Text(_("收件地址：{region}").format(region=self.region[1]), bold=True))
        self.body.add_widget(Text(_("请输入详细地址（街道、小区、门牌号）：")))
        self.detail_box = Panel(radius=12, size_hint_y=None, height=dp(110), padding=(dp(20), dp(10)))
        self.detail_label = Text("", size=theme.FONT_BODY, pos_hint={"center_y": 0.5})
        # A long address wraps: the box grows with it rather than letting the lines spill out.
        self.detail_label.bind(
            height=lambda _label, height: setattr(self.detail_box, "height", max(dp(110), height + dp(20)))
        )
        self.detail_box.add_widget(self.detail_label)
        self.body.add_widget(self.detail_box)
        self.body.add_widget(Widget())  # the address up top, the keyboard at the bottom within reach
        self.keyboard = PinyinKeyboard(on_text=self._typed, on_delete=self._deleted)
        self.body.add_widget(self.keyboard)
        self.body.add_widget(
            button_row(
                secondary(_("重选地区"), self._pick_region, "delivery:region"),
                primary(_("确认地址"), self._send_address, "delivery:confirm"),
            )
        )

    def _typed(self, text: str) -> None:
        self.detail += text
        self.detail_label.text = self.detail

    def _deleted(self) -> None:
        self.detail = self.detail[:-1]
        self.detail_label.text = self.detail

    def _send_address(self) -> None:
        self.keyboard.flush()  # letters still in the candidate bar are part of the address
        flow, region = self.flow, self.region
        assert region is not None
        address = {"region_code": region[0], "detail": self.detail}
        self.app.act(lambda: flow.choose_delivery("mail", address))

    def forget(self) -> None:
        super().forget()
        self.region, self.detail = None, ""


class CertificateScreen(JourneyScreen):
    """查询打印: the certificate is fetched for the identified citizen and printed on A4."""

    title = N_("打印证明")
    screen_name = "certificate"

    def render(self, flow) -> None:
        self.body.add_widget(Widget(size_hint_y=0.2))
        self.body.add_widget(Text(flow.item.name, size=theme.FONT_TITLE, halign="center", bold=True))
        self.status = Text(_(PRINTING), size=theme.FONT_HEADING, halign="center", color=theme.PRIMARY)
        self.body.add_widget(self.status)
        self.body.add_widget(Text(_("证明从下方 A4 出纸口打印出来，请取走。"), halign="center"))
        self.body.add_widget(Widget())

    def on_enter(self, *_args) -> None:
        self.print_it()

    def print_it(self) -> None:
        flow = self.flow
        if flow is not None:
            self.status.text = _(PRINTING)
            self.app.run_worker(flow.print_certificate, self._failed)

    def _failed(self, message: str) -> None:
        self.status.text = _(NOT_PRINTED)  # not "printing, please wait" above the reason it did not
        self.show_error(message, self.print_it)
