"""The pytest plugin (``pytest --wsinspect=retain-on-failure``): every test's WebSocket connections
recorded, and the failed tests' kept as session files, with a report in the failure's output.

:mod:`.plugin` is what pytest loads (entry point ``pytest11``); it imports the rest only when asked.
Sans-I/O: which test owns a connection (:mod:`.owners`), the files' names (:mod:`.names`), the
failure report (:mod:`.report`). With I/O: the recording of a run (:mod:`.recording`), the socket
that server processes stream to (:mod:`.listener`) and the output directory (:mod:`.output`).
Never imports Textual or rich (the import contract in ``pyproject.toml``).
"""
