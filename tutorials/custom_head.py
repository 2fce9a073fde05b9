"""Writing your own cluster head — and using it everywhere a built-in head works.

    python tutorials/custom_head.py [OUTPUT_DIR]

1. the interface: ``forward(z, **context)`` returns the loss, ``cluster(z, soft)`` the labels;
2. a distance-based head with learnable centres;
3. plugging it into the DMoN model by replacing ``model.cluster_head``;
4. a graph-aware head whose loss also uses ``edge_index``;
5. training it in a plain PyTorch loop on Cora (``x, edge_index, y = get_dataset("Cora")``);
6. the same head from the command line through Hydra (``head._target_=...``);
7. comparing it with the built-in DEC head.

Cora is read from the local Planetoid files (``$PYAGC_DATA`` or ``../shared/data``); without them the
tutorial falls back to the KarateClub graph bundled with torch-geometric.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data

from pyagc.clusters import BaseClusterHead, DECClusterHead, LossOutput, kmeans
from pyagc.data import GraphDataModule, get_dataset
from pyagc.metrics import external_metrics, modularity
from pyagc.models import DMoN, ClusteringModule

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="pyagc_custom_head_"))
out.mkdir(parents=True, exist_ok=True)
pl.seed_everything(0, verbose=False)
torch.set_num_threads(min(2, os.cpu_count() or 1))

try:
    x, edge_index, y = get_dataset("Cora")
    GRAPH = "Cora"
except FileNotFoundError:
    x, edge_index, y = get_dataset("KarateClub")
    GRAPH = "KarateClub"
K = int(y.max()) + 1
print(f"{GRAPH}: {x.shape[0]} nodes, {edge_index.shape[1]} directed edges, {x.shape[1]} features, {K} classes")


# --- 1 + 2. the interface, and a head with learnable centres -----------------------------------
class CentroidHead(BaseClusterHead):
    r"""Learnable centres on the unit sphere, trained by information maximisation (Krause et al. 2010):

    .. math::
        q_{ik} = \operatorname{softmax}_k\big(\cos(\mathbf z_i, \boldsymbol\mu_k)/\tau\big), \qquad
        \mathcal L = \underbrace{\tfrac1N\textstyle\sum_i H(q_{i\cdot})}_{\text{confident}}
                    - \underbrace{H\big(\tfrac1N\textstyle\sum_i q_{i\cdot}\big)}_{\text{balanced}}

    Cosine similarity makes the loss blind to the scale of z, and the balance term stops every node
    from going to one centre: the two ways a centroid loss usually collapses.
    """

    requires_initialization = True  # the model calls initialize(z_all) before training the head

    def __init__(self, n_clusters: int, embedding_dim: int, temperature: float = 0.1) -> None:
        super().__init__(n_clusters)
        self.embedding_dim = embedding_dim  # lets pyagc check the encoder's latent size
        self.temperature = temperature
        self.centers = nn.Parameter(torch.randn(n_clusters, embedding_dim))  # a Parameter: checkpointed

    @torch.no_grad()
    def initialize(self, z: Tensor, **context) -> None:
        self.centers.copy_(kmeans(F.normalize(z, dim=1), self.n_clusters, n_init=5).centers)

    def soft(self, z: Tensor) -> Tensor:
        sim = F.normalize(z, dim=1) @ F.normalize(self.centers, dim=1).T
        return torch.softmax(sim / self.temperature, dim=1)

    def forward(self, z: Tensor, **context) -> Tensor | LossOutput:
        q = self.soft(z)
        confident = -(q * q.clamp_min(1e-12).log()).sum(1).mean()
        mean_q = q.mean(0)
        balance = -(mean_q * mean_q.clamp_min(1e-12).log()).sum()
        return LossOutput(confident - balance, {"confident": confident, "balance": balance})

    @torch.no_grad()
    def cluster(self, z: Tensor, soft: bool = False) -> Tensor:
        q = self.soft(z)
        return q if soft else q.argmax(1)


head = CentroidHead(3, 2)
z = torch.cat([torch.randn(20, 2) + torch.tensor(c) for c in ([8.0, 0.0], [0.0, 8.0], [-6.0, -6.0])])
head.initialize(z)
print("1-2. loss:", round(head(z).total.item(), 3), "labels:", head.cluster(z)[:6].tolist(),
      "soft rows sum to", float(head.cluster(z, soft=True).sum(1).mean()))


# --- 3. plug it into the DMoN model ----------------------------------------------------------------
dm = GraphDataModule(name=None, data=Data(x=x, edge_index=edge_index, y=y))
model = DMoN(n_features=x.shape[1], n_clusters=K, epochs=150)
model.cluster_head = CentroidHead(K, model.encoder.latent_dim)  # any BaseClusterHead fits here
model.reconstruction_weight = 0.0
trainer = pl.Trainer(max_epochs=150, accelerator="cpu", logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False)
trainer.fit(model, datamodule=dm)
labels = model.infer_full(dm)
print("3. DMoN encoder + CentroidHead:", {k: round(v, 3) for k, v in external_metrics(y, labels).items()})


# --- 4. a graph-aware head: the loss also uses edge_index --------------------------------------------
class SmoothCentroidHead(CentroidHead):
    r"""CentroidHead plus graph smoothness: linked nodes should get similar assignments,
    :math:`\mathcal L = \mathcal L_{\text{centroid}} + \beta \frac{1}{|E|}\sum_{(i,j)\in E}\lVert q_i - q_j\rVert^2`."""

    requires_graph = True  # pyagc refuses to train it on data without a graph

    def __init__(self, n_clusters: int, embedding_dim: int, temperature: float = 0.1, beta: float = 1.0) -> None:
        super().__init__(n_clusters, embedding_dim, temperature)
        self.beta = beta

    def forward(self, z: Tensor, edge_index: Tensor | None = None, **context) -> LossOutput:
        if edge_index is None:
            raise ValueError("SmoothCentroidHead needs edge_index")
        base = super().forward(z)
        q = self.soft(z)
        smooth = (q[edge_index[0]] - q[edge_index[1]]).pow(2).sum(1).mean()
        return LossOutput(base.total + self.beta * smooth, {**base.components, "smoothness": smooth})


# --- 5. a plain PyTorch loop on the graph ----------------------------------------------------------
class GraphClusteringModel(ClusteringModule):
    """A ClusteringModule subclass used without Lightning: forward(data) is the loss."""

    def forward(self, data) -> Tensor:
        return self.compute_loss({"x": data.x, "edge_index": data.edge_index}, phase="joint").total


data = Data(x=x, edge_index=edge_index)
encoder = DMoN(n_features=x.shape[1], n_clusters=K).encoder
manual = GraphClusteringModel(encoder, SmoothCentroidHead(K, encoder.latent_dim, beta=2.0))
manual.initialize_head(data)  # k-means on the embeddings of all nodes
optimizer = torch.optim.Adam(manual.parameters(), lr=1e-3)
for step in range(150):
    loss = manual(data)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
labels = manual.infer_full(data)
own = {**external_metrics(y, labels), "modularity": modularity(edge_index, labels)}
print("5. SmoothCentroidHead, plain loop:", {k: round(v, 3) for k, v in own.items()})


# --- 6. the same head from the command line --------------------------------------------------------
# Hydra builds any head from its import path; put the class in an importable module.
module = out / "my_heads.py"
module.write_text(textwrap.dedent('''
    """SmoothCentroidHead for the command line (written by tutorials/custom_head.py)."""
    import torch
    import torch.nn.functional as F
    from pyagc.clusters import BaseClusterHead, LossOutput, kmeans

    class SmoothCentroidHead(BaseClusterHead):
        requires_initialization = True
        requires_graph = True

        def __init__(self, n_clusters, embedding_dim, temperature=0.1, beta=1.0):
            super().__init__(n_clusters)
            self.embedding_dim, self.temperature, self.beta = embedding_dim, temperature, beta
            self.centers = torch.nn.Parameter(torch.randn(n_clusters, embedding_dim))

        @torch.no_grad()
        def initialize(self, z, **context):
            self.centers.copy_(kmeans(F.normalize(z, dim=1), self.n_clusters, n_init=5).centers)

        def soft(self, z):
            sim = F.normalize(z, dim=1) @ F.normalize(self.centers, dim=1).T
            return torch.softmax(sim / self.temperature, dim=1)

        def forward(self, z, edge_index=None, **context):
            q = self.soft(z)
            confident = -(q * q.clamp_min(1e-12).log()).sum(1).mean()
            mean_q = q.mean(0)
            balance = -(mean_q * mean_q.clamp_min(1e-12).log()).sum()
            smooth = (q[edge_index[0]] - q[edge_index[1]]).pow(2).sum(1).mean()
            return LossOutput(confident - balance + self.beta * smooth, {"smoothness": smooth})

        @torch.no_grad()
        def cluster(self, z, soft=False):
            q = self.soft(z)
            return q if soft else q.argmax(1)
'''))
run_dir = out / "cli_run"
command = [sys.executable, "-m", "pyagc.cli.train", f"data={GRAPH.lower()}", "encoder=gcn_dmon", "model=dmon",
           "head=user", "head._target_=my_heads.SmoothCentroidHead", "+head.beta=2.0", "model.epochs=150",
           "logger=none", "callbacks=none", "plot=false",
           f"hydra.run.dir={run_dir}", "threads=1"]
print("6. $", " ".join(command[2:]))
env = dict(os.environ, PYTHONPATH=f"{out}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
proc = subprocess.run(command, env=env, capture_output=True, text=True)
if proc.returncode != 0:
    raise SystemExit(proc.stdout[-2000:] + proc.stderr[-2000:])
cli = json.loads((run_dir / "metrics.json").read_text())
print("   from the CLI:", {k: round(cli[k], 3) for k in ("acc", "nmi", "ari", "modularity")})


# --- 7. compare with the built-in DEC head -----------------------------------------------------------
dec_model = DMoN(n_features=x.shape[1], n_clusters=K, epochs=150)
dec_model.cluster_head = DECClusterHead(K, dec_model.encoder.latent_dim, update_interval=10)
pl.Trainer(max_epochs=150, accelerator="cpu", logger=False, enable_checkpointing=False,
           enable_progress_bar=False, enable_model_summary=False).fit(dec_model, datamodule=dm)
dec_labels = dec_model.infer_full(dm)
dec = {**external_metrics(y, dec_labels), "modularity": modularity(edge_index, dec_labels)}
print("7. comparison on", GRAPH)
print(f"   {'head':<22}{'ACC':>7}{'NMI':>7}{'ARI':>7}{'Q':>7}")
for name, m in (("SmoothCentroidHead", own), ("DEC (built-in)", dec)):
    print(f"   {name:<22}{m['acc']:>7.3f}{m['nmi']:>7.3f}{m['ari']:>7.3f}{m['modularity']:>7.3f}")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(figsize=(6, 3.5))
names = ["ACC", "NMI", "ARI", "modularity"]
for i, (label, m) in enumerate((("SmoothCentroidHead", own), ("DEC", dec))):
    ax.bar([j + 0.38 * i for j in range(4)], [m["acc"], m["nmi"], m["ari"], m["modularity"]], width=0.38, label=label)
ax.set_xticks([j + 0.19 for j in range(4)], names)
ax.set_title(f"Your head vs DEC on {GRAPH}")
ax.legend()
fig.tight_layout()
fig.savefig(out / "custom_head_vs_dec.png", dpi=110)
print("figure:", out / "custom_head_vs_dec.png")
