"""Where each of an item's materials comes from: an e-licence, pages from the document camera, or the
citizen's signed commitment (告知承诺) — offered in that order (issue 6, domain.md §2, §4).

E-licences are fetched only after the citizen's consent and cover their materials completely: what a
licence covers is never scanned. The pages live in the session (`Session.scans`, wiped with it) as
JPEGs sized for upload; at submit they become outbox material records in the same commit as the
application, which refers to them (`kiosk.outbox.material_ref`) until the platform has given each its id.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kiosk.catalog import Item, Material
from kiosk.i18n import _

MAX_PAGES = 20  # per material: a thick booklet belongs at the staffed window


class MaterialMissing(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MaterialPlan:
    """The item's materials in the item's order and the source chosen for each.

    `licenses` (material code → the licence's fields, from platform-api §5.5) and `committed` (codes
    the citizen signs the commitment for) live in the session like the pages, so one wipe forgets all.
    The camera step walks `to_collect`: the materials no licence covers that a camera or a commitment
    can provide.
    """

    def __init__(
        self,
        item: Item,
        pages: dict[str, list[bytes]],
        licenses: dict[str, dict[str, Any]],
        committed: set[str],
        *,
        allow_missing: bool = False,
    ) -> None:
        self.item = item
        self.all: list[Material] = list(item.materials)
        self._pages, self.licenses, self.committed = pages, licenses, committed
        # 异地代收代办: the 形式审查 checklist, not the camera step, says what is missing (all at once).
        self.allow_missing = allow_missing
        self.index = 0
        self._one_only = False  # 补拍 of one material from the checklist: back to it when done

    # -- e-licences ----------------------------------------------------------------------------
    @property
    def licensable(self) -> list[Material]:
        return [m for m in self.all if "license" in m.accepts and m.license_type]

    def apply_licenses(self, found: Iterable[dict[str, Any]]) -> list[Material]:
        """Match the citizen's licences to materials by type; returns the materials now covered."""
        by_type = {lic["type"]: lic for lic in found}
        covered = []
        for material in self.licensable:
            lic = by_type.get(material.license_type or "")
            if lic is not None:
                self.licenses[material.code] = lic
                self._pages.pop(material.code, None)  # never both: the licence is the material
                self.committed.discard(material.code)
                covered.append(material)
        self.index = 0
        return covered

    # -- the camera / commitment step ----------------------------------------------------------
    @property
    def to_collect(self) -> list[Material]:
        return [
            m
            for m in self.all
            if m.code not in self.licenses and ("scan" in m.accepts or "commitment" in m.accepts)
        ]

    @property
    def current(self) -> Material | None:
        pending = self.to_collect
        return pending[self.index] if self.index < len(pending) else None

    def can_commit(self, material: Material | None = None) -> bool:
        material = material or self.current
        return material is not None and "commitment" in material.accepts and bool(self.item.commitment_text)

    def can_rescan(self, material: Material) -> bool:
        return "scan" in material.accepts and material.code not in self.licenses

    def pages(self, code: str | None = None) -> list[bytes]:
        if code is None:
            material = self.current
            if material is None:
                return []
            code = material.code
        return self._pages.setdefault(code, [])

    def add(self, jpeg: bytes) -> None:
        material = self.current
        if material is None or "scan" not in material.accepts:
            raise MaterialMissing(_("这份材料不能拍照提交，请按屏幕提示办理。"))
        pages = self.pages()
        if len(pages) >= MAX_PAGES:
            raise MaterialMissing(
                _("每份材料最多拍 {count} 页；页数更多的材料请到人工窗口提交。").format(count=MAX_PAGES)
            )
        self.committed.discard(material.code)
        pages.append(jpeg)

    def delete_last(self) -> None:
        pages = self.pages()
        if pages:
            pages.pop()

    def commit_current(self) -> bool:
        """The citizen signs the commitment instead of this material; True when none is left."""
        material = self.current
        if material is None or not self.can_commit(material):
            raise MaterialMissing(_("这份材料不能用承诺代替，请拍摄材料。"))
        self._pages.pop(material.code, None)
        self.committed.add(material.code)
        self.index += 1
        return self.current is None

    def finish_current(self) -> bool:
        """Move past the current material; True when none is left. A required one needs a source,
        unless the 形式审查 checklist is to list it."""
        material = self.current
        if (
            material is not None
            and material.required
            and not self.allow_missing
            and not self.pages()
            and material.code not in self.committed
        ):
            raise MaterialMissing(
                _("还没有拍《{material}》，请放好材料，拍好后再点“拍好了”。").format(material=material.name)
            )
        self.index = len(self.to_collect) if self._one_only else self.index + 1
        self._one_only = False
        return self.current is None

    def go_to(self, code: str) -> None:
        """Back to one material (补拍 after the checklist found it missing)."""
        codes = [m.code for m in self.to_collect]
        if code not in codes:
            raise MaterialMissing(_("这份材料不能在本机补交，请到人工窗口办理。"))
        self.index = codes.index(code)
        self._one_only = True

    # -- the checklist, the review and the application ------------------------------------------
    def source(self, material: Material) -> str | None:
        if material.code in self.licenses:
            return "license"
        if material.code in self.committed:
            return "commitment"
        if self._pages.get(material.code):
            return "scan"
        return None

    def missing(self) -> list[Material]:
        """形式审查: every required material without a source."""
        return [m for m in self.all if m.required and self.source(m) is None]

    def checklist(self) -> list[tuple[Material, str | None, str]]:
        """Every material, its source (None: missing) and a plain description for the citizen."""
        return [(m, self.source(m), self._describe(m)) for m in self.all]

    def _describe(self, material: Material) -> str:
        source = self.source(material)
        if source == "license":
            lic = self.licenses[material.code]
            return _("电子证照：{name}（{issuer}）").format(name=lic["name"], issuer=lic["issuer"])
        if source == "commitment":
            return _("告知承诺（本人签名）")
        if source == "scan":
            return _("已拍 {pages} 页").format(pages=len(self._pages[material.code]))
        return _("缺少，必须提交") if material.required else _("未提交（选交）")

    @property
    def needs_commitment(self) -> bool:
        return bool(self.committed)

    def summary(self) -> list[tuple[str, str]]:
        return [(m.name, text) for m, _source, text in self.checklist()]

    def scanned(self) -> list[Material]:
        return [m for m in self.all if self.source(m) == "scan"]

    def application_entries(self, refs: dict[str, list[str]]) -> list[dict[str, Any]]:
        """§5.7 `materials` (refs: material code → material ids or references of its pages)."""
        entries: list[dict[str, Any]] = []
        for material in self.all:
            source = self.source(material)
            if source == "license":
                entries.append(_entry(material.code, source, self.licenses[material.code]["license_id"]))
            elif source == "commitment":
                entries.append(_entry(material.code, source))
            elif source == "scan" and refs.get(material.code):
                entries.append(_entry(material.code, source, ids=refs[material.code]))
        return entries


def _entry(code: str, source: str, license_id: str | None = None, ids: Iterable[str] = ()) -> dict[str, Any]:
    return {"code": code, "source": source, "license_id": license_id, "material_ids": list(ids)}
