"""stylometry: one small GPT-2 per author; the lowest loss on a text names its author."""

__version__ = "0.1.0"
