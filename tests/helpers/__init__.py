"""What the tests share; no test module imports another. pytest puts ``tests/`` on ``sys.path`` (its
default "prepend" import mode: ``tests/`` has no ``__init__.py``), so tests write
``from helpers.waiting import until``.

- ``waiting``: polling until something holds, and failing with what was awaited after a while: one
  poller for blocking code (``wait_until``), one for coroutines (``until``), one for a Textual
  app under its pilot (``pilot_until``);
- ``factories``: frames of each kind, log lines, connections and the wire messages that carry them,
  a raw ASGI echo app, and a log handler that keeps its records (``Collect``);
- ``strategies``: the Hypothesis strategies for frames, log lines, connections and wire messages,
  and the helpers that break valid input (``mutate_bytes``, ``split_at``);
- ``servers``: uvicorn serving an app in a thread of the test process (``run_server``);
- ``asgi``: the app side driven in process: a fake ASGI server, one conversation through a
  middleware, and a bare inspector socket that only reads (``Listener``);
- ``recording``: ``wsinspect record`` in a subprocess, and the Litestar echo handler the
  end-to-end tests talk to;
- ``table``: rows and the columns the Store keeps of them, for the filters' index (``Table``);
- ``tui``: the inspector's screen in tests (an app over fixed sessions, what its lines show, the
  cursor moved by keys) and ``wsinspect open`` without a screen (``fake_app``);
- ``tui_data``: the fixed sessions the UI tests and snapshots show;
- ``soak``: the soak's harness (issue 25), with the app (``soak_app.py``) and the clients
  (``soak_clients.py``) it runs as programs of their own.
"""
