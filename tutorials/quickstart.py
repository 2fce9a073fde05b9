"""Quickstart: DEC on the digits bundled with scikit-learn, three ways.

    python tutorials/quickstart.py [OUTPUT_DIR]

1. the preset ``DEC`` trained by the Lightning ``Trainer``;
2. the same model with its cluster head swapped for IDEC's;
3. a plain PyTorch loop with a head you write yourself.

Epoch counts are kept small so the tutorial runs in about a minute on 2 CPU cores; the
benchmark settings are in ``scripts/bench_dec_idec.py``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytorch_lightning as pl
import torch

from pyagc.clusters import BaseClusterHead, IDECClusterHead, kmeans
from pyagc.data import TabularDataModule
from pyagc.encoders import MLPAutoencoder
from pyagc.metrics import external_metrics
from pyagc.models import DEC, ClusteringModule
from pyagc.utils.plotting import plot_embedding

out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="pyagc_quickstart_"))
out.mkdir(parents=True, exist_ok=True)
pl.seed_everything(0, verbose=False)


def trainer(epochs: int) -> pl.Trainer:
    return pl.Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False)


# --- the data: 1797 8x8 digits, features scaled to [0, 1] -------------------------------------
dm = TabularDataModule("digits", scaling="minmax", batch_size=256)
dm.setup()
print(f"digits: {dm.n_samples} samples, {dm.n_features} features, {dm.n_classes} classes")

# --- 1. the DEC preset: pretrain the autoencoder, k-means init, then KL(P||Q) -----------------
model = DEC(in_features=dm.n_features, n_clusters=10, hidden_dims=(256, 256, 512), pretrain_epochs=20, epochs=15,
            update_interval=30)
trainer(model.pretrain_epochs + model.epochs).fit(model, datamodule=dm)
labels = model.infer_full(dm)
print("DEC  ", {k: round(v, 3) for k, v in external_metrics(dm.y, labels).items()})
z = model.embed(dm).numpy()
plot_embedding(z, labels.numpy(), dm.y.numpy(), title="DEC on digits", path=out / "dec_digits.png")

# --- 2. swap the head: IDEC keeps the decoder and adds the reconstruction loss ----------------
idec_head = IDECClusterHead(10, model.encoder.latent_dim, gamma=0.1, update_interval=30)
model.cluster_head = idec_head  # any BaseClusterHead fits here
model.optimizer_spec = {"name": "adam", "lr": 1e-3}
model.pretrain_epochs = 0  # the encoder is already trained
trainer(10).fit(model, datamodule=dm)
print("IDEC ", {k: round(v, 3) for k, v in external_metrics(dm.y, model.infer_full(dm)).items()})


# --- 3. your own head in a plain PyTorch loop --------------------------------------------------
class NearestCentreHead(BaseClusterHead):
    r"""Learnable centres; loss :math:`0.1 \cdot \frac1B\sum_i \min_k \lVert z_i-\mu_k\rVert^2`."""

    requires_initialization = True

    def __init__(self, n_clusters: int, n_features: int) -> None:
        super().__init__(n_clusters)
        self.centers = torch.nn.Parameter(torch.zeros(n_clusters, n_features))

    @torch.no_grad()
    def initialize(self, z, **context):  # k-means++ with restarts, in torch
        self.centers.copy_(kmeans(z, self.n_clusters, n_init=10).centers)

    def forward(self, z, **context):
        return 0.1 * torch.cdist(z, self.centers).min(1).values.pow(2).mean()

    @torch.no_grad()
    def cluster(self, z, soft=False):
        d = torch.cdist(z, self.centers)
        return torch.softmax(-d, 1) if soft else d.argmin(1)


encoder = MLPAutoencoder(dm.n_features, hidden_dims=(256, 256), latent_dim=10)
manual = ClusteringModule(encoder, NearestCentreHead(10, 10), reconstruction_weight=1.0)
opt = torch.optim.Adam(manual.parameters(), lr=1e-3)
for epoch in range(20):  # pretraining: reconstruction only (the head is not initialised yet)
    for batch in dm.train_dataloader():
        loss = manual(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
manual.initialize_head(dm)
for epoch in range(10):  # joint: the head's loss + reconstruction
    for batch in dm.train_dataloader():
        loss = manual(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
print("own  ", {k: round(v, 3) for k, v in external_metrics(dm.y, manual.infer_full(dm)).items()})
print(f"plot written to {out / 'dec_digits.png'}")
