"""The report of an evaluation: tables, radar charts, a Spearman heatmap and one self-contained HTML page."""

from jaxquba.report.build import write_report

__all__ = ["write_report"]
