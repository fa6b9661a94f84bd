"""The footer: Textual's, less a leak that an inspector left open for hours cannot afford."""

from __future__ import annotations

from textual.widgets import Footer

__all__ = ("InspectorFooter",)


class InspectorFooter(Footer):
    """Textual's footer recomposes whenever the keys shown change (the focus moves, a screen comes
    on top), and each time leaves the old keys' data-binding watchers on itself, and with them the
    old key widgets, for the life of the app (Textual issue #6666): some 400 KB a time, 150 MB in an
    hour of the soak. After each recompose, the watchers of widgets no longer attached go."""

    async def recompose(self) -> None:
        await super().recompose()
        watchers: dict[str, list[tuple[object, object]]] = getattr(self, "__watchers", {})  # reactive._watch's
        for entries in watchers.values():
            entries[:] = [(node, callback) for node, callback in entries if getattr(node, "is_attached", True)]
