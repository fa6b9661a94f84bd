"""Benchmarks of wsinspect: ``python -m bench [--quick] [--only NAMES] [--json PATH] [--markdown PATH]``.

A full run writes BENCHMARKS.md (and nothing else: what is written by hand goes in bench/HISTORY.md).
The sections, in the order they run (``SECTIONS`` in ``__main__`` numbers them):

- ``live``: the path users run. uvicorn serving a Litestar echo app, a ``websockets`` client and
  the inspector (``record``, a store without a screen, the TUI in tmux), each its own process;
  throughput as a ratio to bare Litestar measured in the same round, the app's CPU per message
  and the inspector's per frame from ``/proc``, latency from the app's send to the store, and
  Litestar's OpenTelemetry plugin for scale. This is the measurement that counts.
- ``tui``: the TUI's CPU at 0, 100, 1,000 and 10,000 frames/s and a key press to the changed
  screen while 10,000 frames/s flow.
- ``app`` (micro): µs per echoed message of an echo app driven in one process through fake
  ``receive``/``send``. It cannot see what users pay: its fake ``receive`` never yields to an
  event loop, so the emitter's writer thread hardly runs during the measurement.
- ``ingest``: frames per second from wire bytes into a ``Store`` on one core, (a) sans-I/O and
  (b) through an ``InspectorServer``'s Unix socket fed by another process.
- ``e2e`` (micro): trackers fed as fast as one thread can, through the emitter thread and the
  socket into a store in another process; frames the bounded queue dropped.
- ``ui``: a key press to the updated screen, headless, with 100,000 and 1,000,000 frames.
- ``files``: export and ``open`` of 100,000 and 1,000,000-frame sessions (time and peak memory),
  against ``json.dump`` and a bare msgspec decode of the same data.
- ``memory``: the inspector's bytes per stored frame beyond its payload (tracemalloc), against the
  frames as msgspec decodes them; a connections-table refresh with 1,000 open connections against 10.
- ``logs`` (micro): what a handler's ``logging`` call costs with ``capture_logs``, in one process.
- ``pytest``: the wall time of a pytest run of 200 Litestar ``TestClient`` WebSocket tests with the
  plugin not loaded, off, ``retain-on-failure`` and ``on``.

Every figure is a median of repeats and, where a baseline exists, a ratio against it measured in
the same run: the machine is shared and noisy, so absolute numbers only hint.
"""
