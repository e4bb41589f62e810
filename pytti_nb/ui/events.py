"""Optional keyboard and mouse on the preview through ipyevents: space pauses or resumes, s saves
a snapshot, a click toggles full size. Everything also has a button, so when ipyevents is
missing, or its events never arrive (Colab without the custom widget manager), nothing is lost."""

KEYS = {" ": "pause", "s": "snapshot", "S": "snapshot"}


def attach_preview_events(source, handler):
    """Send keydown and click events on `source` to handler(event); None without ipyevents."""
    try:
        from ipyevents import Event
    except ImportError:
        return None
    events = Event(source=source, watched_events=["keydown", "click"], prevent_default_action=True)
    events.on_dom_event(handler)
    return events


def action_for(event: dict) -> str | None:
    """The studio action an ipyevents event asks for: 'pause', 'snapshot', 'zoom' or None."""
    if event.get("type") == "click":
        return "zoom"
    if event.get("type") == "keydown":
        return KEYS.get(event.get("key"))
    return None
