"""wsinspect: a terminal inspector for the WebSocket traffic of Litestar and other ASGI apps.

The app side (this module, the middleware, the plugin) never imports Textual.
"""

from .config import WSInspectConfig
from .middleware import WSInspectMiddleware
from .model import Connection, Frame
from .recorder import Recorder

__all__ = ("Connection", "Frame", "Recorder", "WSInspectConfig", "WSInspectMiddleware")
__version__ = "0.1.0"
