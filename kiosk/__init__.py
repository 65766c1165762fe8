"""kiosk."""

import os

# The terminal uses no pydantic plugins. Looking for them reads the entry points of every installed
# distribution when the first model is built: ~25–50 ms of each `kiosk run` before its window opens.
# An operator's own setting wins.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
