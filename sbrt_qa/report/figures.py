"""Matplotlib figures without pyplot: the caller's backend and pyplot's figure list stay untouched.

A :class:`matplotlib.figure.Figure` made directly (not through ``pyplot``) is never
registered with pyplot's figure manager, so it needs no ``close`` and never changes
``matplotlib.get_backend()``; PNG and PDF bytes come from the Agg and PDF canvases.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # matplotlib is imported only when a figure is drawn
    from matplotlib.figure import Figure


def new_figure(figsize: tuple[float, float], dpi: int = 100) -> "Figure":
    """An empty figure bound to the Agg canvas, outside pyplot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: "Figure") -> bytes:
    """The figure as PNG bytes (Agg canvas)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)
    return buf.getvalue()
