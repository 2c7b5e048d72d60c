"""What a run prints: the plain-text table of values and skips; and the offline report of the run's models."""

from __future__ import annotations

from typing import Any


TABLE_VALUES_PER_DIMENSION = 4  # the headline values come first; per-condition details stay in summary.json
LISTED_LEFT_OUT = 5  # left-out files named in the table per dataset


def summary_table(summary: dict[str, Any]) -> str:
    """The plain-text table printed at the end: the first values of each dimension, then what was skipped."""
    rows = [("model", "dimension", "value", "spec")]
    skipped, warnings = [], []
    for entry in summary["models"]:
        shown: dict[str, int] = {}
        for r in entry["results"]:
            shown[r["dimension"]] = shown.get(r["dimension"], 0) + 1
            if shown[r["dimension"]] <= TABLE_VALUES_PER_DIMENSION:
                rows.append((entry["model"], r["dimension"], f"{r['value']:.4f}", r["spec"]))
        rows += [(entry["model"], dim, "", f"(+{n - TABLE_VALUES_PER_DIMENSION} more values in summary.json)")
                 for dim, n in shown.items() if n > TABLE_VALUES_PER_DIMENSION]
        skipped += [f"  {entry['model']}: {s['dimension']} on {s['dataset']}: {s['reason']}" for s in entry["skipped"]]
        warnings += [f"  {line}" for line in entry.get("warnings", ())]
    for name, info in summary["datasets"].items():
        left_out = info.get("left_out", ())
        warnings += [f"  {name}: {len(left_out)} file(s) left out: "
                     + "; ".join(f"{r['file']}: {r['reason']}" for r in left_out[:LISTED_LEFT_OUT])
                     + (" ... (all in summary.json)" if len(left_out) > LISTED_LEFT_OUT else "")] if left_out else []
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if skipped:
        lines += ["", "skipped:"] + skipped
    if warnings:
        lines += ["", "warnings:"] + warnings
    families: dict[str, list[str]] = {}
    for name in sorted(n for n, d in summary["datasets"].items() if not d["available"]):
        families.setdefault(name.split("/")[0] if "/" in name else name, []).append(name)
    if families:
        lines += ["", "unavailable datasets:"]
        for family, members in families.items():  # a family of many sets (ImageNet-C): its first member's reason
            label = members[0] if len(members) == 1 else f"{family}/* ({len(members)} sets, e.g. {members[0]})"
            lines.append(f"  {label}: {summary['datasets'][members[0]]['reason']}")
    return "\n".join(lines)


def write_run_report(summary: dict[str, Any], out_dir) -> Any:
    """The report (:mod:`jaxquba.report.interactive`) of this run's models, over every run of them in this store
    (other precisions, earlier dimensions); with whatever dimensions they have. None where nothing was measured."""
    import glob

    from jaxquba.report import interactive
    models = [glob.escape(entry["model"]) for entry in summary["models"] if entry["results"]]
    return interactive.write([out_dir / "store"], out_dir / "report", models) if models else None


def write_error_reports(summary: dict[str, Any], studies: dict[str, Any]) -> list:
    """The error study's per-model reports, where its settings name the published stats CSV: each model's values of
    the ``errors`` dimension on the run's reference dataset, placed among the published models
    (:mod:`jaxquba.error_analysis.report`), under ``report_dir/<model>/``. Returns the HTML pages written."""
    from etils import epath

    from jaxquba.error_analysis import dimensions as errors_study
    from jaxquba.error_analysis import report
    settings = studies.get(errors_study.SUITE)
    if settings is None or not settings.published_csv:
        return []
    pages = []
    for entry in summary["models"]:
        values = {r["name"]: r["value"] for r in entry["results"]
                  if r["dimension"] == errors_study.ERRORS.name and r["dataset"] == summary["reference_dataset"]}
        if values:
            out_dir = epath.Path(settings.report_dir).expanduser() / entry["model"]  # local, or remote (gs://)
            pages.append(report.write([errors_study.report_row(values, entry["model"])], settings.published_csv,
                                      out_dir)["html"])
    return pages
