"""The screens that come with the terminal: every one but home and 暂停服务 (`KioskApp.attach`)."""

from __future__ import annotations


def step_screens() -> tuple[type, ...]:
    """Imported when the terminal is there: the backend's libraries come with them (screens.app)."""
    from screens.document import DocumentScreen
    from screens.face import FaceScreen
    from screens.items import CatalogScreen, GuideScreen
    from screens.journey import (
        CertificateScreen,
        ChecklistScreen,
        CommitmentScreen,
        DeliveryScreen,
        LicensesScreen,
    )
    from screens.maintenance import MaintenancePinScreen, MaintenanceScreen
    from screens.query import ProgressScreen, QueryCodeScreen, QueryMenuScreen, ScanScreen
    from screens.steps import (
        DoneScreen,
        FormScreen,
        IdCardScreen,
        RatingScreen,
        ReceiptScreen,
        ReviewScreen,
    )

    return (
        CatalogScreen,
        GuideScreen,
        IdCardScreen,
        FaceScreen,
        FormScreen,
        LicensesScreen,
        DocumentScreen,
        CommitmentScreen,
        ChecklistScreen,
        DeliveryScreen,
        CertificateScreen,
        ReviewScreen,
        ReceiptScreen,
        RatingScreen,
        DoneScreen,
        QueryMenuScreen,
        ScanScreen,
        QueryCodeScreen,
        ProgressScreen,
        MaintenancePinScreen,
        MaintenanceScreen,
    )
