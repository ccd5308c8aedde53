"""`synaptica analyze FILE`: metrics and figures from a spike file; clear errors on bad files."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from synaptica.record import SpikeRecord
from synaptica.analysis.synthetic import random_coupling, simulate_coupled_glm
from synaptica.cli.main import main
from synaptica.io.spikes import save_record

BASE_FIGURES = {"raster.png", "rates.png", "isi.png", "cv.png", "correlograms.png", "avalanches.png"}


@pytest.fixture(scope="module")
def planted():
    """12 units, 60 s; unit 1 strongly excited by unit 0, otherwise sparse weak coupling."""
    coupling = random_coupling(12, 0.05, 0.5, seed=3)
    coupling[1, 0] = 2.0
    record = simulate_coupled_glm(coupling, np.full(12, 15.0), 60.0, seed=3)
    return record, coupling


def _analyze(tmp_path, path, *args):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["analyze", str(path), "--out", str(out), *args])
    return result, out


@pytest.mark.parametrize("suffix", [".npz", ".h5", ".nwb"])
def test_analyze_writes_metrics_and_figures(tmp_path, planted, suffix):
    record, coupling = planted
    path = save_record(record, tmp_path / f"spikes{suffix}")
    args = [] if suffix == ".npz" else ["--no-connectivity"]  # the GLM once is enough
    result, out = _analyze(tmp_path, path, *args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["record"]["n_units"] == 12 and metrics["record"]["n_spikes"] == record.n_spikes
    assert metrics["skipped"] == {}
    rate = record.n_spikes / record.duration / record.n_units
    assert metrics["statistics"]["rate_mean_hz"] == pytest.approx(rate, rel=1e-9)
    names = {p.name for p in out.iterdir()}
    assert BASE_FIGURES <= names
    if suffix == ".npz":
        assert "connectivity.png" in names
        assert metrics["connectivity"]["excitatory_edges"] >= 1


def test_analyze_states(tmp_path, planted):
    record, _ = planted
    path = save_record(record.select(range(6)), tmp_path / "spikes.npz")
    result, out = _analyze(tmp_path, path, "--no-connectivity", "--states", "2", "--state-bin", "0.01")
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["states"]["n_states"] == 2
    assert sum(metrics["states"]["occupancy"]) == pytest.approx(1.0)
    assert (out / "states.png").exists()


def test_analyze_corrupt_file_names_it_and_writes_nothing(tmp_path, planted):
    record, _ = planted
    path = save_record(record, tmp_path / "spikes.npz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    result, out = _analyze(tmp_path, path)
    assert result.exit_code == 1
    assert "spikes.npz" in result.output and "Traceback" not in result.output
    assert not out.exists() and not out.with_name("out.partial").exists()


def test_analyze_rejects_unsorted_spikes(tmp_path):
    np.savez(tmp_path / "bad.npz", times=np.array([0.2, 0.1]), ids=np.array([0, 1]), n_units=2, t_start=0.0,
             t_stop=1.0)
    result, out = _analyze(tmp_path, tmp_path / "bad.npz")
    assert result.exit_code == 1 and "not sorted" in result.output and "bad.npz" in result.output
    assert not out.exists()


def test_analyze_rejects_impossible_bin(tmp_path):
    record = SpikeRecord.from_arrays([0.1, 0.2, 0.3], [0, 1, 0], t_stop=1.0)
    path = save_record(record, tmp_path / "small.npz")
    result, out = _analyze(tmp_path, path, "--bin-size", "-0.001")
    assert result.exit_code == 2 and "--bin-size must be a positive number of seconds" in result.output
    assert not out.exists()


# -- a run folder is analysed by the same tool ----------------------------------------------------------
def test_run_then_analyze_its_spikes(tmp_path):
    """`synaptica run` writes spikes.npz in the format `synaptica analyze` reads (times in s)."""
    run_dir = tmp_path / "cuba"
    ran = CliRunner().invoke(main, ["run", "cuba", "--out", str(run_dir), "--set", "n=200", "--set", "duration_ms=300"])
    assert ran.exit_code == 0, ran.output
    run_metrics = json.loads((run_dir / "metrics.json").read_text())
    result, out = _analyze(tmp_path, run_dir / "spikes.npz", "--no-connectivity")
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["record"]["n_units"] == 200 and metrics["record"]["n_spikes"] == run_metrics["n_spikes"] > 0
    assert metrics["record"]["t_stop_s"] == pytest.approx(0.3)
    assert 1.0 < metrics["statistics"]["rate_mean_hz"] < 100.0
    assert metrics["statistics"]["rate_mean_hz"] == pytest.approx(run_metrics["mean_rate_hz"], rel=1e-9)


def test_analyze_reads_an_old_run_folder(tmp_path):
    """Run folders written before the one format (times_ms, ids, n_neurons, duration_ms) still load."""
    rng = np.random.default_rng(0)
    times_ms = np.sort(rng.uniform(0.0, 2000.0, 400))
    np.savez(tmp_path / "spikes.npz", times_ms=times_ms, ids=rng.integers(0, 10, 400), n_neurons=np.int64(10),
             duration_ms=np.float64(2000.0))
    result, out = _analyze(tmp_path, tmp_path / "spikes.npz", "--no-connectivity")
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["statistics"]["rate_mean_hz"] == pytest.approx(400 / 2.0 / 10)  # Hz: the ms were read as ms


# -- any spike file: a clean refusal or a finite analysis, never another exception -----------------

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from synaptica.analysis.report import AnalysisOptionError, RecordTooLargeError, analyze_record  # noqa: E402
from synaptica.io.spikes import SpikeFileError, load_record  # noqa: E402

EXTREME = [0.0, 0.5, 2.0, 3.0, 1e12, 1e300, -1.0, float("nan"), float("inf")]


MUTATIONS = ["nan time", "inf time", "huge time", "unsorted", "float32 times", "integer times", "float ids",
             "bool ids", "uint8 ids", "negative id", "huge id", "n_units", "t_start", "t_stop", "no t_stop",
             "no ids", "2-D times", "one id short", "empty", "single spike", "simultaneous"]


@st.composite
def spike_files(draw) -> dict[str, np.ndarray]:
    """Fields of an npz spike file: a plausible record (1-60 spikes of 1-8 units in
    [0, 2] s) with up to two random mutations -- shapes, dtypes, ids, times, n_units,
    t_start/t_stop, NaN/inf, huge values, empty or missing fields."""
    n = draw(st.integers(1, 60))
    times = np.sort(draw(hnp.arrays(np.float64, n, elements=st.floats(0, 2))))
    ids = draw(hnp.arrays(np.int64, n, elements=st.integers(0, draw(st.integers(0, 7)))))
    fields = {"times": times, "ids": ids, "t_stop": np.array(2.0)}
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), max_size=2)):
        t, u = fields["times"].copy(), fields.get("ids", ids).copy()
        i = draw(st.integers(0, n - 1)) % max(min(t.size, u.size), 1)
        if mutation in ("nan time", "inf time", "huge time") and t.size and t.dtype == np.float64:
            t[i] = {"nan time": np.nan, "inf time": np.inf, "huge time": 1e300}[mutation]
        elif mutation == "unsorted":
            t = t[::-1]
        elif mutation in ("float32 times", "integer times"):
            t = t.astype(np.float32 if mutation == "float32 times" else np.int64)
        elif mutation in ("float ids", "bool ids", "uint8 ids"):
            u = u.astype({"float ids": np.float64, "bool ids": np.bool_, "uint8 ids": np.uint8}[mutation])
        elif mutation in ("negative id", "huge id") and u.size:
            u = u.astype(np.int64)
            u[i] = -1 if mutation == "negative id" else 2**40
        elif mutation == "n_units":
            fields["n_units"] = np.array(draw(st.sampled_from([1, 8, 0, -2, 2**40, 2**62])))
        elif mutation in ("t_start", "t_stop"):
            fields[mutation] = np.array(draw(st.sampled_from(EXTREME)))
        elif mutation == "no t_stop":
            fields.pop("t_stop", None)
        elif mutation == "no ids":
            fields.pop("ids", None)
            continue
        elif mutation == "2-D times":
            t = t.reshape(-1, 1)
        elif mutation == "one id short":
            u = u[:-1]
        elif mutation == "empty":
            t, u = t[:0], u[:0]
        elif mutation == "single spike":
            t, u = t[:1], u[:1]
        elif mutation == "simultaneous" and t.size:
            t = np.full_like(t, t.flat[0])
        fields["times"] = t
        if "ids" in fields:
            fields["ids"] = u
    return fields


def _flat(value, prefix=""):
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): value}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=spike_files(), bin_size=st.sampled_from([0.001, 0.001, 0.001, 0.01, 0.3, 5.0, 1e-300]),
       max_lag=st.sampled_from([0.05, 0.05, 0.05, 0.01, 10.0]),
       count_bin=st.sampled_from([0.1, 0.1, 0.1, 0.5, 1e-12, 50.0]))
def test_any_spike_file_is_refused_cleanly_or_analysed(tmp_path_factory, fields, bin_size, max_lag, count_bin):
    path = tmp_path_factory.mktemp("hyp") / "s.npz"
    np.savez(path, **fields)
    try:
        record = load_record(path)
        analysis = analyze_record(record, bin_size=bin_size, max_lag=max_lag, count_bin=count_bin,
                                  connectivity=False)
    except (SpikeFileError, AnalysisOptionError, RecordTooLargeError) as error:
        assert str(error)  # a message for the user, naming the problem
        return
    metrics = analysis.metrics
    assert set(metrics) >= {"record", "statistics", "skipped", "timings_s"}
    for section in ("statistics", "synchrony", "complexity"):  # these apply to every valid record
        assert section in metrics or section in metrics["skipped"], section
    assert json.dumps(metrics, allow_nan=True)  # plain numbers, lists and text only
    # finite numbers, or None where undefined; the branching timescale -bin / ln(m) is
    # infinite by definition when the branching ratio m >= 1
    odd = {k: v for k, v in _flat(metrics).items() if isinstance(v, float) and not np.isfinite(v)
           and not (k == "criticality.branching_timescale_s" and v == np.inf)}
    assert not odd, odd


def test_single_spike_record_is_analysed(tmp_path):
    """One spike: STTC used to fail casting an empty bincount; now every stage runs or skips."""
    path = save_record(SpikeRecord.from_arrays([0.5], [0], n_units=2, t_stop=1.0), tmp_path / "one.npz")
    result, out = _analyze(tmp_path, path, "--no-connectivity")
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["record"]["n_spikes"] == 1 and "synchrony" in metrics
    assert "criticality" in metrics["skipped"] and "2 spikes" in metrics["skipped"]["criticality"]


@pytest.mark.parametrize(("fields", "expected", "code"), [
    ({"n_units": np.array(2**40)}, "field 'n_units' = 1099511627776: the analysis would need about", 1),
    ({"t_stop": np.array(1e12)}, "--bin-size = 0.001 s over the record's window", 2),
])
def test_records_too_large_for_memory_are_refused_before_allocating(tmp_path, fields, expected, code):
    rng = np.random.default_rng(0)
    base = {"times": np.sort(rng.uniform(0, 2, 100)), "ids": rng.integers(0, 5, 100), "t_stop": np.array(2.0)}
    path = tmp_path / "big.npz"
    np.savez(path, **{**base, **fields})
    result, out = _analyze(tmp_path, path)
    assert result.exit_code == code and expected in result.stderr, result.output
    assert "of memory available" in result.stderr and "TiB" in result.stderr  # the estimate, with its unit
    assert not out.exists()


def test_an_internal_error_in_a_stage_fails_loudly(tmp_path, planted, monkeypatch):
    import synaptica.analysis.report as report

    def broken(*args, **kwargs):
        raise TypeError("unexpected\nbug")

    monkeypatch.setattr(report, "spike_train_complexity", broken)
    path = save_record(planted[0], tmp_path / "p.npz")
    result, out = _analyze(tmp_path, path, "--no-connectivity")
    assert result.exit_code == 1 and not out.exists()
    assert result.stderr.strip().endswith("analysis stage 'complexity' failed: TypeError: unexpected bug")
    # one error line; before it only the progress lines of the stages that ended
    lines = result.stderr.strip().splitlines()
    assert sum("error" in line for line in lines) == 1 and "Traceback" not in result.stderr
    assert [line.split("]")[1].split(":")[0].strip() for line in lines[:-1]] == ["statistics", "synchrony", "criticality"]


# -- analysis.npz, progress on stderr, report.html -------------------------------------------------

from synaptica.analysis.report import ARRAY_DOCS  # noqa: E402


@pytest.fixture(scope="module")
def analysed(tmp_path_factory, planted):
    """One `synaptica analyze` of the planted record, with the GLM."""
    folder = tmp_path_factory.mktemp("analysed")
    path = save_record(planted[0], folder / "spikes.npz")
    result, out = _analyze(folder, path)
    assert result.exit_code == 0, result.output
    return result, out, planted[0]


def test_arrays_are_saved_in_one_npz_without_pickle(analysed):
    _, out, record = analysed
    metrics = json.loads((out / "metrics.json").read_text())
    with np.load(out / "analysis.npz", allow_pickle=False) as arrays:
        assert set(arrays.files) <= set(ARRAY_DOCS) and all(a.dtype != object for a in arrays.values())
        assert {"rates_hz", "cv", "correlograms", "correlogram_lags_s", "connectivity", "connectivity_p",
                "significant", "avalanche_sizes"} <= set(arrays.files)
        n = record.n_units
        counts = np.bincount(record.ids, minlength=n)
        np.testing.assert_allclose(arrays["rates_hz"], counts / record.duration, rtol=1e-12)
        lags = arrays["correlogram_lags_s"]
        assert arrays["correlograms"].shape == (n, n, lags.size) and lags.size == 2 * 50 + 1
        assert arrays["connectivity"].shape == arrays["connectivity_p"].shape == (n, n)
        p = arrays["connectivity_p"]
        assert np.all((p >= 0) & (p <= 1))
        assert int(arrays["significant"].sum()) == metrics["connectivity"]["significant_edges"]
        assert arrays["connectivity"][1, 0] > 0 and arrays["significant"][1, 0]  # the planted 0 -> 1 edge
        assert arrays["avalanche_sizes"].size == metrics["criticality"]["n_avalanches"]


def test_state_posteriors_are_saved(tmp_path, planted):
    path = save_record(planted[0].select(range(6)), tmp_path / "spikes.npz")
    result, out = _analyze(tmp_path, path, "--no-connectivity", "--states", "2", "--state-bin", "0.01")
    assert result.exit_code == 0, result.output
    with np.load(out / "analysis.npz", allow_pickle=False) as arrays:
        posterior, states = arrays["state_probabilities"], arrays["states"]
        assert posterior.shape == (6000, 2) and states.shape == (6000,)
        np.testing.assert_allclose(posterior.sum(axis=1), 1.0, atol=1e-9)
        np.testing.assert_array_equal(states, posterior.argmax(axis=1))
        assert arrays["state_connectivity"].shape == (2, 6, 6)


def test_progress_names_each_stage_with_its_count_and_time(analysed):
    result, _, _ = analysed
    lines = result.stderr.strip().splitlines()
    stages = ["statistics", "synchrony", "criticality", "complexity", "connectivity", "figures", "arrays", "report"]
    assert len(lines) == len(stages), result.stderr
    for index, (line, stage) in enumerate(zip(lines, stages), start=1):
        assert line.startswith(f"[{index}/{len(stages)}] {stage}: ") and line.endswith(" s"), line
        float(line.split(": ")[1][:-2])  # the stage's elapsed seconds


def _check_self_contained(document: str, n_figures: int) -> None:
    """Strict HTML5 parse; every image an embedded PNG; nothing fetched from elsewhere."""
    import base64
    import re

    import html5lib  # the test extra: without a browser this parse is the report's only check
    tree = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(document)  # raises on any error
    images = tree.findall(".//img")
    assert len(images) == n_figures
    for image in images:
        source = image.get("src")
        assert source.startswith("data:image/png;base64,") and image.get("alt")
        assert base64.b64decode(source.split(",", 1)[1], validate=True).startswith(b"\x89PNG\r\n\x1a\n")
    references = [(element.tag, name, value) for element in tree.iter() for name, value in element.attrib.items()
                  if name in ("src", "href", "srcset", "action", "data", "poster") and not value.startswith("data:")]
    assert not references, references
    assert not tree.findall(".//script") and not tree.findall(".//link") and not tree.findall(".//iframe")
    assert not re.search(r"url\(|@import|https?://", tree.find(".//style").text or "")
    assert tree.find(".//title").text.startswith("synaptica analysis of ")


def test_report_is_self_contained_strict_html(analysed):
    _, out, _ = analysed
    figures = sorted(p.name for p in out.glob("*.png"))
    _check_self_contained((out / "report.html").read_text(encoding="utf-8"), len(figures))
    assert len(figures) == 7


def _headless_browser():
    """A Playwright Chromium: its own download or the system's chromium; None if neither."""
    import shutil

    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        return None, "playwright is not installed (pip install playwright)"
    manager = sync_playwright().start()
    candidates = [None] + [shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")]
    problems = []
    for executable in dict.fromkeys(candidates):  # None: playwright's own browser
        try:
            return (manager, manager.chromium.launch(headless=True, executable_path=executable)), None
        except Error as error:
            problems.append(f"{executable or 'playwright chromium'}: {str(error).splitlines()[0]}")
    manager.stop()
    return None, "no headless browser could be launched (" + "; ".join(problems) + "); " \
        "`python -m playwright install chromium` or a system chromium would run this test"


def test_report_opens_in_a_headless_browser(analysed):
    _, out, _ = analysed
    browser, why = _headless_browser()
    if browser is None:
        pytest.skip(f"report.html not opened in a browser: {why}; test_report_is_self_contained_strict_html "
                    "validates it with a strict parser instead")
    manager, chromium = browser
    try:
        page = chromium.new_page()
        requested = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto((out / "report.html").resolve().as_uri(), wait_until="load")
        loaded = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        headings = page.evaluate("Array.from(document.querySelectorAll('h2')).map(h => h.textContent)")
        rates = page.evaluate("Array.from(document.querySelectorAll('td')).map(c => c.textContent)")
    finally:
        chromium.close()
        manager.stop()
    assert len(loaded) == 7 and all(complete and width > 100 and height > 100 for complete, width, height in loaded)
    assert not [url for url in requested if not url.startswith(("file:", "data:"))], requested
    assert {"statistics", "synchrony", "connectivity", "figures", "arrays in analysis.npz"} <= set(headings)
    assert "rate_mean_hz" in rates and "connectivity_p" in rates


def test_a_failing_report_fails_loudly_and_leaves_nothing(tmp_path, monkeypatch):
    import synaptica.analysis.report_html as report_html

    def broken(*args, **kwargs):
        raise KeyError("figure")

    monkeypatch.setattr(report_html, "render_report", broken)
    rng = np.random.default_rng(1)
    record = SpikeRecord.from_arrays(np.sort(rng.uniform(0, 5, 300)), rng.integers(0, 3, 300), t_stop=5.0)
    result, out = _analyze(tmp_path, save_record(record, tmp_path / "s.npz"), "--no-connectivity")
    assert result.exit_code == 1 and not out.exists() and not out.with_name("out.partial").exists()
    assert result.stderr.strip().splitlines()[-1].endswith("cannot write the analysis (KeyError: 'figure')")
