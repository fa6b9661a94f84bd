"""Benchmarks of wsinspect: ``python -m bench [--quick] [--json PATH] [--profile]``.

1. App-side cost (``app_cost``): µs per echoed message of an in-process ASGI echo app (fake
   ``receive``/``send`` on one asyncio loop, no network), plain versus wrapped in the middleware
   (or the Litestar plugin) with no inspector listening and with one listening in another process.
   The difference is what recording adds to every message the app handles.
2. Inspector ingest (``ingest``): frames per second from wire bytes into a ``Store`` on one
   core, (a) sans-I/O (``Decoder.feed`` in 256 KiB chunks + ``Store.apply``) and (b) through
   an ``InspectorServer``'s Unix socket, fed by another process. Target: 200,000 frames/s.
3. Emitter end to end (``e2e``): frames per second from trackers fed in this process, through the
   emitter thread and the socket, into a store in another process; frames the bounded queue dropped.

Times are medians of several repeats and every figure is also given as a ratio against a baseline
measured in the same run: the machine is shared and noisy, so absolute numbers only hint.
"""
