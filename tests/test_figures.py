"""Figures: drawing into given Axes, formats from the suffix, readable ticks and labels."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import synaptica.plotting as plotting
from synaptica.analysis import figures
from synaptica.plotting import FigureFormatError

RNG = np.random.default_rng(0)
TIMES_MS = np.sort(RNG.uniform(0, 600_000.0, 3000))  # a 600 s record
IDS = RNG.integers(0, 20, TIMES_MS.size)
LAGS = np.linspace(-0.05, 0.05, 101)
COUNTS = RNG.poisson(3.0, (12, 12, LAGS.size))
STATE_TIMES = np.arange(400) * 0.5  # 200 s in 0.5 s bins
STATES = (np.arange(400) // 37) % 3
POSTERIOR = np.eye(3)[STATES] * 0.9 + 0.1 / 3

# name -> (call taking path and ax, number of panels it draws)
PLOTS = {
    "raster": (lambda path, ax: plotting.plot_raster_with_rate(TIMES_MS, IDS, 20, 600_000.0, path, ax=ax), 2),
    "rate_histogram": (lambda path, ax: plotting.plot_rate_histogram(IDS, 20, 600_000.0, path, ax=ax), 1),
    "isi_cv": (lambda path, ax: plotting.plot_isi_cv_histogram(TIMES_MS, IDS, 20, path, ax=ax), 1),
    "receptive_fields": (lambda path, ax: plotting.plot_receptive_fields(RNG.random((16, 6)), (4, 4), path, ax=ax), 1),
    "distribution": (lambda path, ax: figures.plot_distribution(RNG.random(50), path, xlabel="x", title="t", ax=ax), 1),
    "correlograms": (lambda path, ax: figures.plot_correlograms(COUNTS[:3, :3], LAGS, path, ax=ax), 9),
    "avalanches": (lambda path, ax: figures.plot_avalanches(RNG.zipf(2.5, 300), RNG.zipf(3.0, 300), path,
                                                            size_fit=(2.5, 1.0), ax=ax), 2),
    "connectivity": (lambda path, ax: figures.plot_connectivity({"a": RNG.normal(size=(5, 5)),
                                                                 "b": RNG.normal(size=(5, 5))}, path, ax=ax), 2),
    "states": (lambda path, ax: figures.plot_states(STATE_TIMES, STATES, path, probabilities=POSTERIOR, ax=ax), 2),
}


def _user_axes(count: int):
    fig = Figure()
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, count, squeeze=False)[0]
    return fig, list(axes)


def _drawn(ax) -> int:
    return len(ax.lines) + len(ax.patches) + len(ax.images) + len(ax.collections)


@pytest.mark.parametrize("name", PLOTS)
def test_ax_draws_into_the_given_axes_without_a_new_figure(name, monkeypatch):
    draw, panels = PLOTS[name]
    fig, axes = _user_axes(panels)

    def no_new_figure(*args, **kwargs):
        raise AssertionError("a new figure was created although ax= was given")

    monkeypatch.setattr(plotting, "_new_figure", no_new_figure)
    returned = draw(None, axes if panels > 1 else axes[0])
    assert returned is fig
    assert all(_drawn(ax) > 0 for ax in axes), [_drawn(ax) for ax in axes]


@pytest.mark.parametrize("name", PLOTS)
def test_without_ax_a_new_figure_is_returned(name):
    draw, panels = PLOTS[name]
    fig = draw(None, None)
    assert isinstance(fig, Figure)
    assert sum(_drawn(ax) > 0 for ax in fig.axes) >= panels


def test_wrong_number_of_axes_is_refused_naming_it():
    fig, axes = _user_axes(1)
    with pytest.raises(ValueError, match=r"ax: this figure draws 2 panel\(s\) \(raster, population rate\)"):
        plotting.plot_raster_with_rate(TIMES_MS, IDS, 20, 600_000.0, ax=axes[0])
    with pytest.raises(ValueError, match="got 1 object"):
        figures.plot_states(STATE_TIMES, STATES, probabilities=POSTERIOR, ax=axes)
    with pytest.raises(ValueError, match="str"):
        figures.plot_distribution(np.ones(3), xlabel="x", title="t", ax="not an axes")


MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF-", ".svg": b"<?xml"}


@pytest.mark.parametrize(("name", "suffix"), list(itertools.product(["raster", "connectivity", "states"], MAGIC)))
def test_file_format_follows_the_suffix(tmp_path, name, suffix):
    path = tmp_path / f"figure{suffix}"
    PLOTS[name][0](path, None)
    data = path.read_bytes()
    assert data.startswith(MAGIC[suffix]), data[:16]
    if suffix == ".svg":
        assert b"<svg" in data[:2000]


@pytest.mark.parametrize("bad", ["figure.xyz", "figure", "figure.png.bak"])
def test_unknown_suffix_is_refused_before_drawing(tmp_path, bad):
    path = tmp_path / bad
    with pytest.raises(FigureFormatError, match="cannot tell a figure format from the suffix") as error:
        figures.plot_states(STATE_TIMES, STATES, path)
    assert ".png, .pdf, .svg" in str(error.value)
    assert not path.exists()


def test_state_axis_has_integer_ticks_only():
    fig = figures.plot_states(STATE_TIMES, STATES, true=STATES, probabilities=POSTERIOR)
    fig.canvas.draw()
    ticks = fig.axes[0].get_yticks()
    assert list(ticks) == [0, 1, 2]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["0", "1", "2"]


def _inside(fig, artist) -> bool:
    renderer = fig.canvas.get_renderer()
    box = artist.get_window_extent(renderer)
    return (box.x0 >= fig.bbox.x0 - 0.5 and box.y0 >= fig.bbox.y0 - 0.5 and box.x1 <= fig.bbox.x1 + 0.5
            and box.y1 <= fig.bbox.y1 + 0.5)


def test_colour_bar_label_is_inside_the_figure():
    matrices = {"true": RNG.normal(size=(50, 50)) * 1e-3, "GLM coupling (significant)": RNG.normal(size=(50, 50))}
    fig = figures.plot_connectivity(matrices)
    fig.canvas.draw()
    colour_bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(colour_bars) == 2
    for bar in colour_bars:
        label = bar.yaxis.label
        assert label.get_text() == "coupling weight" and _inside(fig, label)
        assert all(_inside(fig, t) for t in bar.get_yticklabels() if t.get_text())


def _tick_texts(fig) -> list[str]:
    fig.canvas.draw()
    return [t.get_text() for ax in fig.axes for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]


@pytest.mark.parametrize(("duration_ms", "unit"), [(600_000.0, "s"), (86_400_000.0, "s"), (500.0, "ms")])
def test_raster_time_ticks_are_short(duration_ms, unit):
    times = np.sort(RNG.uniform(0, duration_ms, 500))
    fig = plotting.plot_raster_with_rate(times, RNG.integers(0, 5, 500), 5, duration_ms)
    texts = _tick_texts(fig)
    assert texts and max(len(t) for t in texts) <= 5, texts
    assert fig.axes[1].get_xlabel() == f"time ({unit})"


def test_state_time_ticks_are_short():
    times = 1e4 + np.arange(2000) * 0.5  # 1000 s starting at 10000 s
    fig = figures.plot_states(times, (np.arange(2000) // 100) % 2)
    texts = _tick_texts(fig)
    assert texts and max(len(t) for t in texts) <= 5, texts


def test_correlogram_tick_labels_do_not_overlap():
    fig = figures.plot_correlograms(COUNTS, LAGS)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = [t for ax in fig.axes for t in ax.get_xticklabels() + ax.get_yticklabels()
              if t.get_visible() and t.get_text()]
    labels += [ax.yaxis.label for ax in fig.axes if ax.get_ylabel()] + [ax.title for ax in fig.axes if ax.get_title()]
    boxes = [t.get_window_extent(renderer) for t in labels]
    assert len(boxes) > 12
    overlapping = [(a.get_text(), b.get_text()) for (a, p), (b, q) in itertools.combinations(zip(labels, boxes), 2)
                   if p.overlaps(q)]
    assert not overlapping, overlapping[:5]
    assert all(_inside(fig, t) for t in labels)
