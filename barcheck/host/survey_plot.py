"""The survey plot: per page size, how many BARs are sub-page, share a page, and can be mmapped."""

from __future__ import annotations

import io

from barcheck.host.survey import Survey
from model.units import size_name

_METADATA = {"png": {"Software": None}, "pdf": {"Creator": None, "Producer": None, "CreationDate": None}}


def plot(survey: Survey, rows: list[dict], kind: str) -> bytes:
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    series = [("memory BARs that are sub-page", [r["subpage_pct"] for r in rows]),
              ("sub-page BARs sharing a page with another device", [r["subpage_shared_pct"] for r in rows]),
              ("machines with a shared page", [r["machines_with_shared_page_pct"] for r in rows])]
    series += [(f"sub-page BARs mmappable under {name}", [r["subpage_mmappable_pct"][name] for r in rows])
               for name in survey.policies]
    figure = Figure(figsize=(8, 4.5))
    axes = figure.add_subplot()
    width = 0.8 / len(series)
    palette = pyplot.get_cmap("tab10")
    colours = palette.colors if isinstance(palette, ListedColormap) else None
    if not isinstance(colours, (list, tuple)):
        raise TypeError("matplotlib's tab10 colour map is not a list of colours")
    for n, (label, values) in enumerate(series):
        positions = [i + (n - (len(series) - 1) / 2) * width for i in range(len(rows))]
        bars = axes.bar(positions, values, width, label=label, color=colours[n % len(colours)])
        axes.bar_label(bars, fmt="%.0f", fontsize=7)
    axes.set_xticks(range(len(rows)), [f"{size_name(r['page_size'])} pages" for r in rows])
    axes.set_ylabel("percent")
    axes.set_ylim(0, 110)
    axes.set_title(f"{len(survey.machines)} machines, {rows[0]['memory_bars'] if rows else 0} memory BARs")
    axes.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format=kind, metadata=_METADATA[kind], dpi=120)
    return buffer.getvalue()
