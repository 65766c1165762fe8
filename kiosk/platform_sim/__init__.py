"""A stand-in for the provincial platform (platform-api.md) for development, the demo and tests."""

from kiosk.platform_sim.app import create_app
from kiosk.platform_sim.server import ServerThread, serve

__all__ = ["ServerThread", "create_app", "serve"]
