"""Deterministic example data: retailer exports in deliberately different formats, with ground truth."""

from rmnlora.datagen.retail_exports import (
    GroundTruth,
    LineItemTruth,
    MarketTruth,
    RetailerTruth,
    generate_exports,
)

__all__ = ["GroundTruth", "LineItemTruth", "MarketTruth", "RetailerTruth", "generate_exports"]
