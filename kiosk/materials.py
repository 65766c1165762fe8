"""Paper materials captured on the document camera, one item material after another.

The pages live in the session (`Session.scans`, wiped with it) as JPEGs sized for upload. At submit
they become outbox material records in the same commit as the application, which refers to them
(`kiosk.outbox.material_ref`) until the platform has given each its id.
"""

from __future__ import annotations

from kiosk.catalog import Item, Material

MAX_PAGES = 20  # per material: a thick booklet belongs at the staffed window


class MaterialMissing(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MaterialScans:
    """The item's materials that may be scanned, in the item's order, and the pages taken of each."""

    def __init__(self, item: Item, pages: dict[str, list[bytes]]) -> None:
        self.materials: list[Material] = [m for m in item.materials if "scan" in m.accepts]
        self._pages = pages
        self.index = 0

    @property
    def current(self) -> Material | None:
        return self.materials[self.index] if self.index < len(self.materials) else None

    def pages(self, code: str | None = None) -> list[bytes]:
        material = self.current if code is None else next(m for m in self.materials if m.code == code)
        return [] if material is None else self._pages.setdefault(material.code, [])

    def add(self, jpeg: bytes) -> None:
        pages = self.pages()
        if len(pages) >= MAX_PAGES:
            raise MaterialMissing(f"每份材料最多拍 {MAX_PAGES} 页；页数更多的材料请到人工窗口提交。")
        pages.append(jpeg)

    def delete_last(self) -> None:
        pages = self.pages()
        if pages:
            pages.pop()

    def finish_current(self) -> bool:
        """Move past the current material; True when none is left. A required one needs a page."""
        material = self.current
        if material is not None and material.required and not self.pages():
            raise MaterialMissing(f"还没有拍《{material.name}》，请放好材料，拍好后再点“拍好了”。")
        self.index += 1
        return self.current is None

    def summary(self) -> list[tuple[str, str]]:
        """For the review screen: each material and how many pages were taken."""
        return [(m.name, f"已拍 {len(self._pages.get(m.code, []))} 页") for m in self.materials]

    def application_entries(self, refs: dict[str, list[str]]) -> list[dict[str, object]]:
        """§5.7 `materials` for the scanned ones (refs: material code → material ids or references)."""
        return [
            {"code": code, "source": "scan", "license_id": None, "material_ids": ids}
            for code, ids in refs.items()
            if ids
        ]
