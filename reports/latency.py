"""Kept only because ``migrations/0001_initial.py`` names ``reports.latency.empty_histogram`` as a
field default, and Django needs every callable a migration references to stay importable. The
histograms are telemetry's: ``telemetry.latency``."""

from telemetry.latency import empty_histogram

__all__ = ["empty_histogram"]
