"""The Textual inspector: the app, one module per sizeable widget, and the modal screens."""
