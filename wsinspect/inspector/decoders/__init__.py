"""The payload decoders moved to :mod:`wsinspect.decoders`; this name stays for third-party
decoders written against it (``from wsinspect.inspector.decoders import Decoded``)."""

from wsinspect.decoders import *  # noqa: F403
from wsinspect.decoders import __all__  # noqa: F401
