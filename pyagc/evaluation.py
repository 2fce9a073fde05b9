"""Final evaluation and prediction: assignments, metrics and plots written atomically to an output folder.

* :func:`evaluate` + :func:`save_outputs`: the whole data set in memory (``pyagc-train``, ``pyagc-eval``).
* :func:`predict`: any number of samples, batch by batch (``pyagc-predict``): ``assignments.csv`` and, on request,
  soft assignments and embeddings (``.npy``) are written as the batches come, so memory stays flat.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pyagc.metrics import external_metrics, graph_metrics, internal_metrics
from pyagc.utils.distributed import is_distributed


def is_rank_zero() -> bool:
    """Whether this process is rank 0 (or the only one)."""
    return not is_distributed() or torch.distributed.get_rank() == 0


def _umask_mode() -> int:
    """The permissions a newly created file gets (``0o666`` less the umask): temporary files are made ``0o600``."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _temp_beside(path: Path, suffix: str = ".tmp") -> tuple[int, str]:
    """A temporary file in ``path``'s folder with the permissions of an ordinary new file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.chmod(tmp, _umask_mode())
    return fd, tmp


def atomic_write(path: Path, write) -> None:
    """Write through a temporary file in the same folder, then rename: no half-written outputs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temp_beside(path, path.suffix)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def evaluate(model: Any, datamodule: Any) -> dict[str, Any]:
    """Embed the whole data set, cluster it and score it (all processes take part under DDP)."""
    z, y = model.embed(
        datamodule.full_dataloader() if hasattr(datamodule, "full_dataloader") else datamodule, with_labels=True
    )
    labels = model.cluster_head.cluster(z)
    z_np, labels_np = z.cpu().numpy(), labels.cpu().numpy()
    y_np = None if y is None else y.cpu().numpy()
    scores: dict[str, Any] = {
        "n_samples": int(len(labels_np)),
        "n_clusters": int(model.cluster_head.n_clusters),
        "n_clusters_found": int(len(np.unique(labels_np[labels_np >= 0]))),
    }
    if is_rank_zero():
        if y_np is not None:
            scores.update(external_metrics(y_np, labels_np))
        scores.update(internal_metrics(z_np, labels_np))
        edge_index = getattr(datamodule, "edge_index", None)
        if edge_index is not None:
            scores.update(graph_metrics(edge_index, labels_np))
    ids = getattr(datamodule, "ids", None)
    if ids is not None and len(ids) != len(labels_np):
        ids = None
    return {
        "metrics": scores,
        "z": z_np,
        "labels": labels_np,
        "y": y_np,
        "ids": ids,
        "id_name": getattr(datamodule, "id_name", None) if ids is not None else None,
    }


# ---------------------------------------------------------------------------------------------------- writers
def _id_header(id_name: str | None) -> str:
    name = id_name or "id"
    return f"id_{name}" if name in ("index", "cluster", "label") else name


class AssignmentWriter:
    """``assignments.csv`` written batch by batch: ``index[,<id>],cluster[,label]``, one row per sample.

    Rows go to a temporary file in the same folder, renamed over ``path`` by :meth:`commit` (a failure part way
    leaves no half-written file; :meth:`abort` removes the temporary one). ``index`` is the 0-based sample number;
    the identifier column (an ID column's name, or ``path`` for images) is written when ``ids`` are given.
    """

    def __init__(self, path: str | Path, id_name: str | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = _temp_beside(self.path)
        self.file = os.fdopen(fd, "w", newline="")
        self.id_name = id_name
        self.with_ids: bool | None = None
        self.with_labels: bool | None = None
        self.rows = 0

    def write(
        self, index: np.ndarray, clusters: np.ndarray, y: np.ndarray | None = None, ids: list[str] | None = None
    ) -> None:
        if self.with_labels is None:
            self.with_labels, self.with_ids = y is not None, ids is not None
            header = (
                ["index"]
                + ([_id_header(self.id_name)] if self.with_ids else [])
                + ["cluster"]
                + (["label"] if self.with_labels else [])
            )
            self.file.write(",".join(header) + "\n")
        if (y is not None) != self.with_labels or (ids is not None) != self.with_ids:
            raise ValueError("every batch must carry labels / identifiers when the first one does.")
        cols = [np.asarray(index, np.int64), np.asarray(clusters, np.int64)]
        if y is not None:
            cols.append(np.asarray(y, np.int64))
        if ids is None:
            self.file.write(_int_rows(cols))
        else:
            writer = csv.writer(self.file, lineterminator="\n")
            rest = zip(*(c.tolist() for c in cols[1:]))
            writer.writerows((i, name, *r) for i, name, r in zip(cols[0].tolist(), ids, rest))
        self.rows += len(cols[0])

    def commit(self) -> Path:
        if self.with_labels is None:  # no rows: the header only
            self.file.write("index,cluster\n")
        self.file.close()
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        if not self.file.closed:
            self.file.close()
        if os.path.exists(self.tmp):
            os.unlink(self.tmp)


def _int_rows(cols: list[np.ndarray]) -> str:
    """Columns of integers as CSV lines, formatted by NumPy in C (no Python object per row or value)."""
    line = cols[0].astype("S21")
    for c in cols[1:]:
        line = np.char.add(np.char.add(line, b","), c.astype("S21"))
    line = np.char.add(line, b"\n")
    return line.tobytes().replace(b"\x00", b"").decode("ascii")


class NpyWriter:
    """A ``.npy`` array ``(N, K)`` written row block by row block with plain file writes (no memory map, so
    nothing of it stays resident). With ``n_rows`` known the header is written first; otherwise the rows go to a
    temporary file and :meth:`commit` writes the header and copies them after it. Renamed into place by
    :meth:`commit`; :meth:`abort` removes the temporary files.
    """

    def __init__(self, path: str | Path, n_rows: int | None = None, dtype: Any = np.float32) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.n_rows, self.dtype = n_rows, np.dtype(dtype)
        fd, self.tmp = _temp_beside(self.path)
        self.file = os.fdopen(fd, "wb")
        self.width: int | None = None
        self.rows = 0

    def write(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=self.dtype).reshape(len(block), -1)
        if self.width is None:
            self.width = block.shape[1]
            if self.n_rows is not None:
                self._header(self.file, self.n_rows)
        elif block.shape[1] != self.width:
            raise ValueError(f"{self.path.name}: rows of {block.shape[1]} values after rows of {self.width}.")
        self.file.write(block.tobytes())
        self.rows += len(block)

    def _header(self, f: Any, n: int) -> None:
        np.lib.format.write_array_header_1_0(
            f,
            {
                "descr": np.lib.format.dtype_to_descr(self.dtype),
                "fortran_order": False,
                "shape": (int(n), int(self.width or 0)),
            },
        )

    def commit(self) -> Path:
        self.file.close()
        if self.n_rows is not None and self.width is not None:
            if self.rows != self.n_rows:
                self.abort()
                raise RuntimeError(f"{self.path.name}: {self.rows} rows written, {self.n_rows} announced.")
            os.replace(self.tmp, self.path)
            return self.path
        fd, final = _temp_beside(self.path)
        try:
            with os.fdopen(fd, "wb") as out, open(self.tmp, "rb") as raw:
                self._header(out, self.rows)
                shutil.copyfileobj(raw, out, length=1 << 22)
            os.replace(final, self.path)
        finally:
            for leftover in (final, self.tmp):
                if os.path.exists(leftover):
                    os.unlink(leftover)
        return self.path

    def abort(self) -> None:
        if not self.file.closed:
            self.file.close()
        if os.path.exists(self.tmp):
            os.unlink(self.tmp)


class _Reservoir:
    """A uniform random sample of at most ``size`` rows of a stream (Algorithm R), for the internal metrics and
    the plot of data too large to hold.
    """

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size, self.rng, self.seen = int(size), np.random.default_rng(seed), 0
        self.z: np.ndarray | None = None
        self.labels: np.ndarray | None = None
        self.y: np.ndarray | None = None

    def add(self, z: np.ndarray, labels: np.ndarray, y: np.ndarray | None) -> None:
        n = len(z)
        if self.z is None:
            self.z = np.empty((self.size, z.shape[1]), np.float32)
            self.labels = np.empty(self.size, np.int64)
            self.y = np.empty(self.size, np.int64) if y is not None else None
        take = max(0, min(n, self.size - self.seen))  # fill the reservoir first
        if take:
            sl = slice(self.seen, self.seen + take)
            self.z[sl], self.labels[sl] = z[:take], labels[:take]
            if self.y is not None:
                self.y[sl] = y[:take]
        rest = np.arange(take, n)
        if len(rest):
            slots = self.rng.integers(0, self.seen + rest + 1)  # row t replaces slot j < size with chance size/(t+1)
            keep = slots < self.size
            rows, slots = rest[keep], slots[keep]
            self.z[slots], self.labels[slots] = z[rows], labels[rows]  # later rows win, as in the sequential rule
            if self.y is not None:
                self.y[slots] = y[rows]
        self.seen += n

    def sample(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        k = min(self.seen, self.size)
        if self.z is None:
            return np.empty((0, 0), np.float32), np.empty(0, np.int64), None
        return self.z[:k], self.labels[:k], None if self.y is None else self.y[:k]


def peak_rss_mb() -> float | None:
    """This process's peak resident memory in MiB (``None`` where the OS does not report it)."""
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)
    except (ImportError, OSError):
        return None


@torch.no_grad()
def predict(
    model: Any,
    batches: Iterable[dict[str, Any]],
    output_dir: str | Path,
    *,
    n_rows: int | None = None,
    id_name: str | None = None,
    soft: bool = False,
    embeddings: bool = False,
    device: str | torch.device | None = None,
    sample_size: int = 5000,
    seed: int = 0,
    plot: bool = False,
    title: str = "",
    extra: dict[str, Any] | None = None,
    projection: str = "pca",
) -> dict[str, Any]:
    """Assign every sample of ``batches`` to a cluster and write the results, batch by batch.

    Args:
        model: a trained :class:`~pyagc.models.ClusteringModule` (``embed_batch`` + ``cluster_head``).
        batches: preprocessed batches ``{x, index, y?, ids?, edge_index?, num_seed_nodes?}`` in order, e.g.
            :meth:`pyagc.data.ClusteringDataModule.predict_batches` of a DataModule given the model's
            preprocessing.
        output_dir: folder for ``assignments.csv`` (``index[,<id_name>],cluster[,label]``), ``metrics.json`` and,
            on request, ``soft_assignments.npy`` (``(N, K)`` float32) and ``embeddings.npy`` (``(N, F)`` float32).
        n_rows: the number of samples when known up front (the ``.npy`` outputs then need no second copy).
        id_name: the name of the identifier column (``ids`` of the batches).
        soft, embeddings: also write the soft assignments / the embeddings.
        device: where the model runs (default: where it is).
        sample_size: the internal metrics (silhouette, Davies-Bouldin, Calinski-Harabasz) and the plot use a
            uniform random sample of at most this many embeddings, so their cost does not grow with the data.
        plot: write ``embedding.png`` (a 2-D ``projection`` of the sample, coloured by cluster and by class) and,
            with labels, ``confusion.png`` (clusters x classes over all samples, ordered by the matching of ACC).
        projection: ``pca`` (default), ``tsne`` or ``umap`` (umap-learn).
        extra: more entries for ``metrics.json``.

    Returns:
        ``{"metrics": ..., "paths": {name: path}}``. With labels (``y`` in the batches) the metrics hold ACC /
        NMI / ARI / F1 over all samples, as :func:`evaluate` does; labels and assignments (8 bytes per sample) are
        the only per-sample state kept in memory, and only when there are labels.
    """
    from pyagc.metrics import external_metrics, internal_metrics

    start = time.perf_counter()
    out = Path(output_dir)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model = model.to(device)
    was_training = model.training
    model.eval()
    head = model.cluster_head
    k = int(head.n_clusters)
    writers: dict[str, Any] = {"assignments": AssignmentWriter(out / "assignments.csv", id_name)}
    if soft:
        writers["soft_assignments"] = NpyWriter(out / "soft_assignments.npy", n_rows)
    if embeddings:
        writers["embeddings"] = NpyWriter(out / "embeddings.npy", n_rows)
    reservoir = _Reservoir(sample_size, seed)
    counts = np.zeros(k, np.int64)
    ys: list[np.ndarray] = []
    found: list[np.ndarray] = []
    n, n_noise, expected = 0, 0, 0
    try:
        for batch in batches:
            moved = {
                key: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v) for key, v in batch.items()
            }
            z = model.embed_batch(moved).float()
            seeds = int(moved.get("num_seed_nodes", z.shape[0]))  # sampled subgraphs: the seed nodes only
            z = z[:seeds]
            index = moved["index"][:seeds].cpu().numpy()
            if len(index) and index[0] != expected:
                raise RuntimeError(f"prediction batches must come in order: row {int(index[0])} after {expected} rows.")
            expected += len(index)
            labels = head.cluster(z).cpu().numpy().astype(np.int64)
            y = moved["y"][:seeds].cpu().numpy().astype(np.int64) if moved.get("y") is not None else None
            ids = batch.get("ids")
            ids = None if ids is None else list(ids)[:seeds]
            writers["assignments"].write(index, labels, y, ids)
            z_np = z.cpu().numpy()
            if soft:
                writers["soft_assignments"].write(head.cluster(z, soft=True).float().cpu().numpy())
            if embeddings:
                writers["embeddings"].write(z_np)
            valid = labels[(labels >= 0) & (labels < k)]
            counts += np.bincount(valid, minlength=k)[:k]
            n_noise += int(len(labels) - len(valid))
            reservoir.add(z_np, labels, y)
            if y is not None:
                ys.append(y.astype(np.int32))
                found.append(labels.astype(np.int32))
            n += len(labels)
        if n == 0:
            raise ValueError("no samples to predict: the data is empty.")
        paths = {name: w.commit() for name, w in writers.items()}
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    finally:
        model.train(was_training)
    scores: dict[str, Any] = {
        "n_samples": n,
        "n_clusters": k,
        "n_clusters_found": int((counts > 0).sum()),
        "cluster_sizes": counts.tolist(),
    }
    if n_noise:
        scores["n_noise"] = n_noise
    y_all = np.concatenate(ys) if ys else None
    found_all = np.concatenate(found) if ys else None
    if y_all is not None:
        scores.update(external_metrics(y_all, found_all))
    z_s, l_s, y_s = reservoir.sample()
    if len(l_s) >= 2:
        import sklearn

        with sklearn.config_context(working_memory=64):  # silhouette's distance blocks: 64 MiB at a time
            scores.update(internal_metrics(z_s, l_s, sample_size=sample_size, seed=seed))
    else:
        scores.update({"silhouette": float("nan"), "davies_bouldin": float("nan"), "calinski_harabasz": float("nan")})
    if n > sample_size:
        scores["internal_metrics_sample"] = int(len(l_s))
    elapsed = time.perf_counter() - start
    scores["time_s"] = round(elapsed, 3)
    scores["samples_per_s"] = round(n / elapsed, 1) if elapsed > 0 else None
    rss = peak_rss_mb()
    if rss is not None:
        scores["peak_rss_mb"] = rss
    if extra:
        scores.update(extra)
    if plot and len(l_s) >= 2:
        paths["plot"] = _write_plot(out / "embedding.png", z_s, l_s, y_s, title, projection)
    if plot and y_all is not None:
        paths["confusion"] = _write_confusion(out / "confusion.png", y_all, found_all, title)
    paths["metrics"] = out / "metrics.json"
    atomic_write(paths["metrics"], lambda p: Path(p).write_text(json.dumps(scores, indent=2, default=float)))
    return {"metrics": scores, "paths": paths}


def _write_plot(
    path: Path, z: np.ndarray, labels: np.ndarray, y: np.ndarray | None, title: str, projection: str = "pca"
) -> Path:
    import matplotlib.pyplot as plt

    from pyagc.utils.plotting import plot_embedding

    def _plot(p: str) -> None:
        fig = plot_embedding(z, labels, y, title=title, projection=projection)
        fig.savefig(p, dpi=110, format="png", bbox_inches="tight")
        plt.close(fig)

    atomic_write(path, _plot)
    return path


def _write_confusion(path: Path, y: np.ndarray, labels: np.ndarray, title: str) -> Path:
    import matplotlib.pyplot as plt

    from pyagc.utils.plotting import plot_confusion

    def _plot(p: str) -> None:
        fig = plot_confusion(y, labels, title=title)
        fig.savefig(p, dpi=110, format="png", bbox_inches="tight")
        plt.close(fig)

    atomic_write(path, _plot)
    return path


def save_outputs(
    result: dict[str, Any],
    output_dir: str | Path,
    extra: dict[str, Any] | None = None,
    plot: bool = True,
    title: str = "",
    projection: str = "pca",
) -> dict[str, Path]:
    """Write ``metrics.json``, ``assignments.csv`` and, with ``plot``, ``embedding.png`` and (with labels)
    ``confusion.png`` (rank 0 only); returns their paths by name (``plot``: embedding.png, ``confusion``).

    ``assignments.csv`` is ``index[,<id>],cluster[,label]``: the identifier column is the image's path (relative to
    the folder) for an image folder and the ID column (``data.id_column``) for a table (``result["ids"]`` and
    ``result["id_name"]``, from :func:`evaluate`). ``embedding.png`` is a 2-D ``projection`` (``pca``, ``tsne``,
    ``umap``) of the embeddings coloured by cluster and by class, with legends; ``confusion.png`` the counts of
    clusters against classes ordered by the Hungarian matching of ACC.
    """
    out = Path(output_dir)
    paths = {"metrics": out / "metrics.json", "assignments": out / "assignments.csv"}
    if not is_rank_zero():
        return paths
    metrics = dict(result["metrics"])
    if extra:
        metrics.update(extra)
    labels, y = result["labels"], result["y"]
    writer = AssignmentWriter(paths["assignments"], result.get("id_name"))
    try:
        writer.write(np.arange(len(labels)), labels, y, result.get("ids"))
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    if plot and len(labels) >= 2:  # a PCA of one sample has no second axis: no plot
        paths["plot"] = _write_plot(out / "embedding.png", result["z"], labels, y, title, projection)
    if plot and y is not None and len(labels):
        paths["confusion"] = _write_confusion(out / "confusion.png", y, labels, title)
    atomic_write(paths["metrics"], lambda p: Path(p).write_text(json.dumps(metrics, indent=2, default=float)))
    return paths
