"""The app side: runs inside the user's server. Records WebSocket traffic and streams it to the inspector.

Never imports Textual or rich (enforced by the import contract in ``pyproject.toml``).
"""
