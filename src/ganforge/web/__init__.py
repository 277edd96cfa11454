"""``ganforge serve`` (a stdlib web page and JSON/PNG API) and the rendering it shares with ``generate``."""
