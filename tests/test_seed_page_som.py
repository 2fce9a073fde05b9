"""TorchSOM's documentation page "Clustering" runs against pyagc as written.

Users paste the page's five code blocks in order, changing only ``from torchsom import`` to
``from pyagc.som import``. The blocks are stored word for word in
``tests/seed_pages/torchsom_clustering/block_{1..5}.py``. When the page itself is present
(``../shared/seeds/000_b2d2dface6c7b03a.txt`` next to the repository, unless
``PYAGC_NO_SHARED=1``), every stored block must still be found in it (whitespace-normalised)
and the test runs the page's own text; otherwise it runs the stored copies.

The blocks run in ONE namespace, in order. The only fill-in is what the page leaves undefined:
a fitted ``som`` for the blocks before the end-to-end example (a small map, so the test is
fast). The checks go beyond "it runs": every figure the blocks ask for is drawn and returned,
the HDBSCAN result is accepted with ``n_clusters``, noise neurons appear as "Uncertain", and
``save_path`` writes a PNG.
"""

import os
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.collections import PatchCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.datasets import make_blobs  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

from pyagc.som import SOM, SOMVisualizer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BLOCK_DIR = REPO / "tests" / "seed_pages" / "torchsom_clustering"
PAGE = Path(__file__).resolve().parents[1].parent / "shared" / "seeds" / "000_b2d2dface6c7b03a.txt"
N_BLOCKS = 5
TORCHSOM_IMPORT, PYAGC_IMPORT = "from torchsom import", "from pyagc.som import"
# the visualizer calls each block makes, in order
EXPECTED_PLOTS = {
    1: [],
    2: ["plot_elbow_analysis", "plot_silhouette_analysis"],
    3: ["plot_cluster_quality_comparison"],
    4: ["plot_cluster_map"],
    5: ["plot_elbow_analysis", "plot_cluster_map"],
}


def shared_page_available() -> bool:
    """The page is used unless it is missing or ``PYAGC_NO_SHARED`` is set (to anything but 0/false)."""
    off = os.environ.get("PYAGC_NO_SHARED", "").strip().lower() not in ("", "0", "false", "no")
    return not off and PAGE.is_file()


def stored_blocks():
    return [(BLOCK_DIR / f"block_{i}.py").read_text() for i in range(1, N_BLOCKS + 1)]


def normalise(text: str):
    """Collapse every whitespace run to one space; also return each kept character's offset in ``text``."""
    chars, offsets = [], []
    space = True  # drops leading whitespace
    for i, ch in enumerate(text):
        if ch.isspace():
            if not space:
                chars.append(" ")
                offsets.append(i)
            space = True
        else:
            chars.append(ch)
            offsets.append(i)
            space = False
    if chars and chars[-1] == " ":
        chars.pop()
        offsets.pop()
    return "".join(chars), offsets


def locate_blocks(page: str, blocks):
    """The page's own text of each stored block, found in order (whitespace-normalised).

    Returns ``[(start, end, text)]`` with ``text`` the page's characters (import substituted).
    Raises ``AssertionError`` naming the first stored block that the page no longer contains.
    """
    norm_page, offsets = normalise(page)
    spans, pos = [], 0
    for i, block in enumerate(blocks, 1):
        needle, _ = normalise(block.replace(PYAGC_IMPORT, TORCHSOM_IMPORT))
        at = norm_page.find(needle, pos)
        assert at >= 0, (
            f"tests/seed_pages/torchsom_clustering/block_{i}.py no longer matches the page {PAGE.name} "
            "(after the import substitution, ignoring whitespace): update the stored copy from the page."
        )
        start, end = offsets[at], offsets[at + len(needle) - 1] + 1
        spans.append((start, end, page[start:end].replace(TORCHSOM_IMPORT, PYAGC_IMPORT)))
        pos = at + len(needle)
    return spans


def page_blocks():
    """The code to run: the page's text when the page is available, the stored copies otherwise."""
    blocks = stored_blocks()
    if not shared_page_available():
        return blocks, "stored copies"
    spans = locate_blocks(PAGE.read_text(encoding="utf-8"), blocks)
    return [t for _, _, t in spans], str(PAGE)


def has_content(fig: Figure) -> bool:
    """At least one axes with drawn data: lines, collections, bars/patches or images."""
    for ax in fig.axes:
        if ax.lines or ax.images or any(len(getattr(c, "get_paths", lambda: [])()) for c in ax.collections):
            return True
        if any(isinstance(p, matplotlib.patches.Rectangle) and p.get_height() != 0 for p in ax.patches):
            return True
    return False


def legend_texts(fig: Figure):
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


@pytest.fixture(autouse=True)
def _one_thread_and_cleanup():
    # a few thousand tiny updates: one thread avoids oversubscription on busy CI machines
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
    plt.close("all")


@pytest.fixture(scope="module")
def small_som():
    """The fill-in for the page's undefined ``som``: a small fitted map on 4 blobs."""
    torch.set_num_threads(1)
    X, y = make_blobs(300, centers=4, n_features=5, random_state=0)
    som = SOM(10, 8, num_features=5, topology="hexagonal", epochs=20, random_seed=0).fit(X)
    return som, X, y


@pytest.fixture
def plot_spy(monkeypatch):
    """Record every ``SOMVisualizer.plot_*`` call made by the blocks and what it returned."""
    calls = []
    for name in [n for n in dir(SOMVisualizer) if n.startswith("plot_")]:
        original = getattr(SOMVisualizer, name)

        def wrapper(self, *args, __name=name, __original=original, **kwargs):
            out = __original(self, *args, **kwargs)
            calls.append((__name, out))
            return out

        monkeypatch.setattr(SOMVisualizer, name, wrapper)
    return calls


def test_page_blocks_run_in_order(small_som, plot_spy):
    som, X, y = small_som
    blocks, source = page_blocks()
    assert len(blocks) == N_BLOCKS
    ns = {"__name__": "__torchsom_clustering_page__", "som": som}
    for i, code in enumerate(blocks, 1):
        before_calls, before_figs = len(plot_spy), set(plt.get_fignums())
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the page's code must run without warnings
            exec(compile(code, f"<{source}: block {i}>", "exec"), ns)
        calls = plot_spy[before_calls:]
        assert [c[0] for c in calls] == EXPECTED_PLOTS[i], f"block {i}"
        new_figs = set(plt.get_fignums()) - before_figs
        assert len(new_figs) == len(EXPECTED_PLOTS[i]), f"block {i} should open one figure per plot call"
        for name, fig in calls:
            assert isinstance(fig, Figure), f"block {i}: {name} must return its Figure"
            assert fig.number in new_figs and has_content(fig), f"block {i}: {name} drew nothing"

        if i == 1:  # the documented result fields
            r = ns["result"]
            assert r["method"] == "kmeans" and r["n_clusters"] == 4 and r["feature_space"] == "weights"
            assert r["labels"].shape == (som.n_neurons,) and set(np.unique(r["labels"])) == {0, 1, 2, 3}
            assert {"silhouette", "davies_bouldin", "calinski_harabasz"} <= set(r["metrics"])
            assert r["metrics"]["silhouette"] > 0.5
        elif i == 2:
            elbow, sil = calls[0][1], calls[1][1]
            assert elbow.elbow["k_values"] == list(range(1, 11))  # max_k=10
            assert 3 <= elbow.elbow["knee"] <= 5
            knife = sil.axes[1]
            assert len(knife.collections) == 4  # one silhouette band per cluster of `result`
        elif i == 3:
            results = ns["results"]
            assert [r["method"] for r in results] == ["kmeans", "gmm", "hdbscan"]
            fig = calls[0][1]
            assert len(fig.axes) == 4  # silhouette, Davies-Bouldin, Calinski-Harabasz, k
            for ax in fig.axes:
                assert len(ax.patches) == 3
            assert [p.get_height() for p in fig.axes[3].patches] == [r["n_clusters"] for r in results]
        elif i == 4:
            r = ns["result"]
            assert r["method"] == "hdbscan" and r["n_clusters"] >= 2
            fig = calls[0][1]
            coll = [c for c in fig.axes[0].collections if isinstance(c, PatchCollection)][0]
            assert len(coll.get_paths()) == som.n_neurons
            assert (r["labels"] == -1).any(), "this map has low-density neurons"
            texts = legend_texts(fig)
            assert "Uncertain" in texts and "noise" not in texts
            assert len(texts) == r["n_clusters"] + 1
        elif i == 5:
            som5, r = ns["som"], ns["result"]
            assert som5 is not som and (som5.x, som5.y, som5.topology) == (25, 15, "hexagonal")
            assert len(som5.history["quantization_error"]) == 100
            assert r["labels"].shape == (375,) and r["n_clusters"] == 4
            _, y5 = make_blobs(n_samples=1000, centers=4, n_features=5, random_state=42)
            assert adjusted_rand_score(y5, r["sample_labels"]) > 0.95
            assert 3 <= calls[0][1].elbow["knee"] <= 6
            assert len(legend_texts(calls[1][1])) == 4


def test_stored_blocks_match_the_page():
    if not shared_page_available():
        pytest.skip(f"{PAGE} is not available (or PYAGC_NO_SHARED is set)")
    page = PAGE.read_text(encoding="utf-8")
    spans = locate_blocks(page, stored_blocks())
    # every call of the page's `som.` / `viz.` API lies inside a stored block: no code is left out
    for m in re.finditer(r"\b(?:som|viz)\.\w+\(", page):
        assert any(s <= m.start() < e for s, e, _ in spans), f"page code not covered by a block: {m.group()!r}"
    # the page's text is the stored text up to whitespace
    for (_, _, text), block in zip(spans, stored_blocks()):
        assert normalise(text)[0] == normalise(block)[0]


def test_block_matching_detects_a_changed_page():
    blocks = stored_blocks()
    page = "Intro\n\n" + "\n\nSome prose.\n\n".join(b.replace(PYAGC_IMPORT, TORCHSOM_IMPORT) for b in blocks)
    spans = locate_blocks(page.replace("\n    ", "\n  "), blocks)  # re-indented: still matches
    assert len(spans) == N_BLOCKS and PYAGC_IMPORT in spans[4][2]
    with pytest.raises(AssertionError, match="block_3.py no longer matches"):
        locate_blocks(page.replace('("kmeans", "gmm", "hdbscan")', '("kmeans", "gmm")'), blocks)


def test_hdbscan_accepts_and_ignores_n_clusters(small_som):
    som, _, _ = small_som
    ref = som.cluster(method="hdbscan", feature_space="weights")
    with pytest.warns(UserWarning, match="n_clusters=4 is ignored"):
        res = som.cluster(method="hdbscan", n_clusters=4, feature_space="weights")
    np.testing.assert_array_equal(res["labels"], ref["labels"])
    assert res["n_clusters"] == ref["n_clusters"]
    with pytest.warns(UserWarning, match="ignored"):
        som.cluster(method="hdbscan", n_clusters=1)  # not even validated: it is not used


def test_uncertain_label_for_noise_neurons(small_som):
    som, _, _ = small_som
    res = dict(som.cluster(method="kmeans", n_clusters=3))
    res["labels"] = res["labels"].copy()
    res["labels"][:5] = -1
    fig = SOMVisualizer(som=som).plot_cluster_map(cluster_result=res)
    assert legend_texts(fig)[0] == "Uncertain"
    colors = [c for c in fig.axes[0].collections if isinstance(c, PatchCollection)][0].get_facecolor()
    assert len({tuple(np.round(c, 3)) for c in colors[:5]}) == 1  # noise neurons share the grey


def test_save_path_writes_png_file_or_folder(small_som, tmp_path):
    som, _, _ = small_som
    viz = SOMVisualizer(som=som)
    result = som.cluster(method="hdbscan", feature_space="weights")
    fig = viz.plot_cluster_map(cluster_result=result, save_path=tmp_path / "map.png")  # a file
    raw = (tmp_path / "map.png").read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) > 5000
    assert fig.saved_path == str(tmp_path / "map.png")
    assert fig.number not in plt.get_fignums() and has_content(fig)  # closed after saving in a script
    fig = viz.plot_elbow_analysis(max_k=6, save_path=tmp_path / "figs")  # TorchSOM: a folder
    assert (tmp_path / "figs" / "elbow_analysis.png").read_bytes()[:4] == b"\x89PNG"
    fig = viz.plot_cluster_map(cluster_result=result)  # not saved: stays open for plt.show()
    assert fig.number in plt.get_fignums()


@pytest.mark.skipif(
    subprocess.run([sys.executable, "-c", "import IPython, matplotlib_inline"], capture_output=True).returncode != 0,
    reason="IPython and matplotlib-inline are not installed",
)
def test_notebook_shows_each_figure_once():
    """In a Jupyter-like shell with the inline backend, a plot call mid-cell and one as the last
    expression each show exactly one image (a returned pyplot figure would otherwise show twice)."""
    script = textwrap.dedent(
        """
        from IPython.core.interactiveshell import InteractiveShell
        from IPython.core.displaypub import CapturingDisplayPublisher

        class Shell(InteractiveShell):
            def enable_gui(self, gui=None):
                pass

        sh = Shell.instance()
        sh.display_pub = CapturingDisplayPublisher()
        sh.run_line_magic("matplotlib", "inline")

        def cell(code):
            sh.display_pub.outputs.clear()
            r = sh.run_cell(code, store_history=True)
            assert r.success, r.error_in_exec
            return sum("image/png" in o["data"] for o in sh.display_pub.outputs)

        cell("import torch; torch.set_num_threads(1)\\n"
             "from sklearn.datasets import make_blobs\\nfrom pyagc.som import SOM, SOMVisualizer\\n"
             "X, _ = make_blobs(200, centers=3, n_features=4, random_state=0)\\n"
             "som = SOM(8, 6, num_features=4, epochs=5).fit(X)\\nviz = SOMVisualizer(som=som)")
        assert cell("viz.plot_elbow_analysis(max_k=5)\\nr = som.cluster(method='kmeans', n_clusters=3)\\n"
                    "viz.plot_cluster_map(cluster_result=r)") == 2
        assert cell("fig = viz.plot_cluster_map(cluster_result=r)") == 1
        assert cell("fig") == 1  # shown again in a later cell on request
        print("ok")
        """
    )
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
