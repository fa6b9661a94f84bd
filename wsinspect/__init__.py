"""wsinspect: a terminal inspector for the WebSocket traffic of Litestar and other ASGI apps.

The app side (this module, the middleware, the plugin) never imports Textual.
"""

from .capture.middleware import WSInspectMiddleware
from .capture.recorder import Recorder
from .config import WSInspectConfig
from .model import Connection, Frame

__all__ = ("Connection", "Frame", "Recorder", "WSInspectConfig", "WSInspectMiddleware")
__version__ = "0.1.0"
