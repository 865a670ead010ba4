"""tdxlib — a literate design workbook for the TDX event-notify interrupt debate."""

__version__ = "0.1.0"
