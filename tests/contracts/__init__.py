"""Vendored official contract artefacts (see README.md here): paths for the tests that validate against them."""

from pathlib import Path

HERE = Path(__file__).resolve().parent
ADAPTIVE_CARD_SCHEMA = HERE / "adaptive-card-1.5.json"
GRAPH_CALENDAR_OPENAPI = HERE / "graph-v1.0-calendar-openapi.json"
