"""Where VaDE starts: the accuracy of the head's GMM initialisation on the pretrained embedding.

    PYAGC_DATA=../shared/data OMP_NUM_THREADS=1 python scripts/probe_vade_start.py --data mnist \
        --pretrain-epochs 5 --reconstruction-loss bce

Pretrains the ``pyagc.models.VaDE`` preset's variational MLP autoencoder ([d, 500, 500, 2000, 10], sigmoid
output, Adam 1e-3, batch 256, minmax scaling; ``--reconstruction-loss`` mse or bce), lets the head fit its
diagonal GMM (``--n-init`` restarts, the best likelihood kept), and prints one JSON line with the ACC / NMI of
that start next to k-means (10 restarts) and a single scikit-learn diagonal GMM (one k-means start) on the same
embedding means. Used to explain the VaDE-on-MNIST gap in ``benchmarks/vade_vs_clustpy_mnist.md``.
"""

from __future__ import annotations

import argparse
import json
import time

import pytorch_lightning as pl
import torch
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture

from pyagc.augmentations import RandomAffine
from pyagc.data import ImageDataModule, TabularDataModule
from pyagc.metrics import external_metrics
from pyagc.models import VaDE


def flat_data(name: str, scaling: str, seed: int, batch_size: int = 256):
    """digits (scikit-learn) or USPS / MNIST (all samples, flattened), set up; shared with probe_vade_trajectory."""
    if name == "digits":
        dm = TabularDataModule("digits", scaling=scaling, batch_size=batch_size, seed=seed)
    else:
        dm = ImageDataModule(name, flatten=True, scaling=scaling, batch_size=batch_size, seed=seed)
    dm.setup()
    return dm


def embed_with_saved_autoencoder(dm, path: str, seed: int, activation: str = "relu") -> torch.Tensor:
    """Mean embeddings of ``dm.x`` under a variational MLP autoencoder saved by ``probe_vade_trajectory.py
    --save-pretrained`` (the VaDE preset's widths; ``activation`` must be the saved one's). A saved network without
    a trained log-variance layer (pretraining only fits the mean) is accepted; any other mismatch stops the probe."""
    model = VaDE(dm.n_features, dm.n_classes, pretrain_epochs=0, epochs=0, activation=activation, seed=seed)
    missing, unexpected = model.encoder.load_state_dict(torch.load(path), strict=False)
    if unexpected or [k for k in missing if not k.startswith("logvar_layer.")]:
        raise SystemExit(f"{path} does not fit: missing {missing}, unexpected {unexpected}")
    model.eval()
    with torch.no_grad():
        return model.encoder.encode(dm.x).float()


def augment_pretraining(model, dm) -> None:
    """Pretrain ``model`` on random affine views of the (square, one-channel, flattened) images of ``dm``:
    rotation up to 10 degrees, shift up to 10 %, no shear, background 0 (DEC-DA's digit augmentation)."""
    side = int(round(dm.n_features**0.5))
    if side * side != dm.n_features:
        raise SystemExit("--augment needs square one-channel images (usps, mnist)")
    model.augmentation = RandomAffine(
        degrees=10, translate=(0.1, 0.1), shear=0.0, image_shape=(1, side, side), fill=0.0
    )
    model.pretrain_augmentation = True


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", choices=["digits", "usps", "mnist"], default="mnist")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pretrain-epochs", type=int, default=5)
    p.add_argument("--reconstruction-loss", choices=["mse", "bce"], default="mse")
    p.add_argument("--activation", default="relu", help="hidden activation of the autoencoder (clustpy: leaky_relu)")
    p.add_argument(
        "--encoder-init",
        choices=["xavier", "default"],
        default="xavier",
        help="weight initialisation of the autoencoder (clustpy: PyTorch's default)",
    )
    p.add_argument(
        "--augment",
        action="store_true",
        help="pretrain on random affine views (rotation 10 deg, shift 10%%, no shear; DEC-DA), images only",
    )
    p.add_argument(
        "--pretrain-eps",
        type=float,
        default=None,
        help="Adam's eps for pretraining (PyTorch's default 1e-8 when not given)",
    )
    p.add_argument(
        "--pretrain-reduction",
        choices=["mean", "sum"],
        default="mean",
        help="reconstruction averaged over the batch's elements (pyagc) or summed (clustpy's BCE)",
    )
    p.add_argument("--n-init", type=int, default=10, help="GMM restarts of the head's initialisation")
    p.add_argument("--precision", default="bf16-mixed")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    pl.seed_everything(args.seed, verbose=False)
    dm = flat_data(args.data, "minmax", args.seed)
    model = VaDE(
        dm.n_features,
        dm.n_classes,
        pretrain_epochs=args.pretrain_epochs,
        epochs=0,
        n_init=args.n_init,
        pretrain_loss=args.reconstruction_loss,
        activation=args.activation,
        encoder_init=args.encoder_init,
        init="gmm",
        seed=args.seed,
    )  # the diagonal start it measures
    if args.pretrain_eps is not None:
        model.pretrain_optimizer_spec = {**model.pretrain_optimizer_spec, "eps": args.pretrain_eps}
    if args.pretrain_reduction == "sum":
        mean_loss = model.reconstruction_loss
        model.reconstruction_loss = lambda x, x_hat: mean_loss(x, x_hat) * x.numel()
    if args.augment:
        augment_pretraining(model, dm)
    t0 = time.perf_counter()
    pl.Trainer(
        max_epochs=args.pretrain_epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        precision=args.precision,
    ).fit(model, datamodule=dm)
    seconds = time.perf_counter() - t0
    y = dm.y.numpy()
    head_start = external_metrics(y, model.infer_full(dm).numpy())  # the head was initialised when training ended
    z = model.embed(dm).float().numpy()
    km = KMeans(dm.n_classes, n_init=10, random_state=args.seed).fit_predict(z)
    gmm1 = GaussianMixture(dm.n_classes, covariance_type="diag", n_init=1, random_state=args.seed).fit(z).predict(z)
    out = {
        "data": args.data,
        "seed": args.seed,
        "pretrain_epochs": args.pretrain_epochs,
        "reconstruction_loss": args.reconstruction_loss,
        "activation": args.activation,
        "encoder_init": args.encoder_init,
        "augment": args.augment,
        "head_gmm_n_init": args.n_init,
        "precision": args.precision,
        "pretrain_eps": args.pretrain_eps,
        "pretrain_reduction": args.pretrain_reduction,
        "head_start_acc": round(head_start["acc"], 4),
        "head_start_nmi": round(head_start["nmi"], 4),
        "kmeans_acc": round(external_metrics(y, km)["acc"], 4),
        "sklearn_gmm_1_init_acc": round(external_metrics(y, gmm1)["acc"], 4),
        "seconds": round(seconds, 1),
    }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
