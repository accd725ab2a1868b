"""A page's outline as four corners in a photo: its size seen square-on, which both the page
look (``pages``) and the outlines of repeated patterns (``periods``) measure it by."""

from __future__ import annotations

import numpy as np

Quad = np.ndarray  # (4, 2) float64 corners, clockwise from the one nearest the top left


def page_size(quad: Quad) -> tuple[float, float]:
    """The page's width and height in the photo's pixels: its opposite sides' mean lengths."""
    return (0.5 * float(np.linalg.norm(quad[1] - quad[0]) + np.linalg.norm(quad[2] - quad[3])),
            0.5 * float(np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1])))
