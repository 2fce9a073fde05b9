"""How VaDE's accuracy moves epoch by epoch: one seed of the ``pyagc.models.VaDE`` preset, evaluated after each epoch.

    PYAGC_DATA=../shared/data OMP_NUM_THREADS=1 python scripts/probe_vade_trajectory.py --data mnist \
        --pretrain-epochs 5 --epochs 20 [--reconstruction-weight 256] [--lr 2e-3] [--decay 0.9]

Pretrains the preset's variational MLP autoencoder ([d, 500, 500, 2000, 10], sigmoid output, Adam 1e-3,
batch 256, minmax scaling), fits the head's GMM, then trains VaDE; after the initialisation and after every
VaDE epoch it prints one JSON line with the ACC / NMI of the head's labels (argmax of the responsibilities of
the mean embedding) and the loss components of the last batch; ``volume_rule_acc`` labels the same embedding with
clustpy's responsibilities (log sigma^2 where the density has 0.5 log sigma^2: each component's density times
prod_j sigma_cj^-1), a diagnostic, not pyagc's rule. ``--decay`` multiplies the lr by that factor
every 10 epochs (the paper's schedule; 1 = constant, the preset's default). ``--reconstruction-weight``
scales the reconstruction term of the ELBO (clustpy sums its BCE over the batch while averaging the KL
terms, i.e. weight = batch size). ``--augment`` pretrains on random affine views (DEC-DA; ``--augment-joint``
also the VaDE epochs), ``--head-init kmeans`` starts the prior from k-means instead of the GMM,
``--save-pretrained F`` keeps the pretrained autoencoder and ``--init-from F --pretrain-epochs 0`` reuses it;
with ``--save-prior G`` (the head's initial GMM) clustpy's VaDE phase can start from the very same network and
prior (``anchor_clustpy_vade.py --init-from F --prior-from G``), which compares the two VaDE phases alone.
The recipe of ``benchmarks/vade_mnist.md`` (ACC 0.956 over 3 seeds), in the two steps recorded there::

    python scripts/probe_vade_trajectory.py --data mnist --seed S --pretrain-epochs 50 --augment --epochs 20 \
        --lr 2e-4 --save-pretrained DIR/mnist_aug50_sS.pt
    python scripts/probe_vade_trajectory.py --data mnist --seed S --init-from DIR/mnist_aug50_sS.pt \
        --pretrain-epochs 0 --epochs 20 --lr 2e-4 --head-init kmeans

Used for ``benchmarks/vade_vs_clustpy_mnist.md`` and ``benchmarks/vade_mnist.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch

from pyagc.clusters.vade import gaussian_mixture_log_joint
from pyagc.metrics import external_metrics
from pyagc.models import VaDE

sys.path.insert(0, str(Path(__file__).resolve().parent))
from probe_vade_start import augment_pretraining, flat_data  # noqa: E402


class EpochAccuracy(pl.Callback):
    """Prints the head's ACC / NMI on the whole data after each clustering epoch (one JSON line)."""

    def __init__(
        self,
        dm,
        tag: dict,
        logvar_init: str = "fresh",
        save_pretrained: str | None = None,
        save_prior: str | None = None,
    ) -> None:
        self.dm, self.tag, self.t0, self.logvar_init = dm, tag, time.perf_counter(), logvar_init
        self.save_pretrained, self.save_prior = save_pretrained, save_prior

    def _report(self, module, epoch: int) -> None:
        was_training = module.training
        z = module.embed(self.dm)
        m = external_metrics(self.dm.y.numpy(), module.cluster_head.cluster(z).numpy())
        # diagnostic only: clustpy's responsibilities (log sigma^2 where the normal density has 0.5 log sigma^2,
        # i.e. each component's density times prod_j sigma_cj^-1) on the same mean embedding
        head = module.cluster_head
        with torch.no_grad():
            log_vars = head.log_vars.float()
            volume = gaussian_mixture_log_joint(
                z.float(), torch.log_softmax(head.pi_logits.float(), 0), head.means.float(), log_vars
            ) - 0.5 * log_vars.sum(1)
        volume_acc = external_metrics(self.dm.y.numpy(), volume.argmax(1).numpy())["acc"]
        module.train(was_training)
        logged = {k: round(float(v), 2) for k, v in module.trainer.callback_metrics.items() if "loss" in k}
        print(
            json.dumps(
                {
                    **self.tag,
                    "vade_epoch": epoch,
                    "acc": round(m["acc"], 4),
                    "nmi": round(m["nmi"], 4),
                    "volume_rule_acc": round(volume_acc, 4),
                    "seconds": round(time.perf_counter() - self.t0, 1),
                    **logged,
                }
            ),
            flush=True,
        )

    def on_train_epoch_start(self, trainer, module) -> None:
        if trainer.current_epoch == module.pretrain_epochs:  # callbacks run before the module's hook: initialise here
            if self.save_pretrained:  # the pretrained autoencoder, for --init-from with --pretrain-epochs 0
                torch.save(module.encoder.state_dict(), self.save_pretrained)
            layer = module.encoder.logvar_layer
            with torch.no_grad():
                if self.logvar_init == "copy":  # the log-variance layer starts as a copy of the (pretrained) mean layer
                    layer.load_state_dict(module.encoder.encoder[-1].state_dict())
                elif self.logvar_init == "small":  # log sigma^2 = -4 everywhere: sampled z stay near the means
                    layer.weight.zero_()
                    layer.bias.fill_(-4.0)
            module.encoder.requires_grad_(True)  # --freeze-encoder-pretrain ends with pretraining
            if not module.cluster_head.is_initialized:
                module.initialize_head()
            if self.save_prior:  # the initial prior, for anchor_clustpy_vade.py --prior-from
                head = module.cluster_head
                np.savez(
                    self.save_prior,
                    weights=head.pi.detach().double().numpy(),
                    means=head.means.detach().double().numpy(),
                    variances=head.log_vars.detach().double().exp().numpy(),
                )
            self._report(module, 0)

    def on_train_epoch_end(self, trainer, module) -> None:
        if trainer.current_epoch >= module.pretrain_epochs:
            self._report(module, trainer.current_epoch - module.pretrain_epochs + 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", choices=["digits", "usps", "mnist"], default="mnist")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pretrain-epochs", type=int, default=5)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--lr", type=float, default=2e-3, help="VaDE-phase Adam lr")
    p.add_argument("--decay", type=float, default=1.0, help="lr factor every 10 VaDE epochs (the paper: 0.9)")
    p.add_argument("--reconstruction-weight", type=float, default=1.0)
    p.add_argument("--pretrain-loss", choices=["mse", "bce"], default="mse")
    p.add_argument("--activation", default="relu")
    p.add_argument("--encoder-init", choices=["xavier", "default"], default="xavier")
    p.add_argument(
        "--logvar-init",
        choices=["fresh", "copy", "small"],
        default="fresh",
        help="log-variance layer at the start of VaDE: as initialised (fresh), a copy of the pretrained mean "
        "layer, or zero weights with bias -4",
    )
    p.add_argument(
        "--init-from",
        default=None,
        help="state_dict of a pretrained MLPAutoencoder (same widths, e.g. a DEC-protocol autoencoder from "
        "scripts/ae_cache.py) loaded before pretraining; its decoder gains the sigmoid output",
    )
    p.add_argument(
        "--freeze-encoder-pretrain",
        action="store_true",
        help="with --init-from: pretraining adapts only the decoder (to the sigmoid output), the loaded "
        "encoder is kept as it is until VaDE starts",
    )
    p.add_argument(
        "--augment",
        action="store_true",
        help="pretrain on random affine views (rotation 10 deg, shift 10%%, no shear; DEC-DA), images only",
    )
    p.add_argument(
        "--augment-joint",
        action="store_true",
        help="with --augment: the VaDE epochs train on random views too (ClusteringModule(joint_augmentation))",
    )
    p.add_argument(
        "--save-pretrained",
        default=None,
        help="save the pretrained autoencoder's state_dict here (reuse: --init-from F --pretrain-epochs 0)",
    )
    p.add_argument(
        "--save-prior",
        default=None,
        help="save the head's initial prior (weights, means, variances) here, after the GMM fit "
        "(numpy .npz; the name must end in .npz)",
    )
    p.add_argument(
        "--head-init",
        choices=["gmm", "kmeans"],
        default="gmm",
        help="the prior's initialisation: diagonal GMM (the paper's) or k-means + per-cluster variances",
    )
    p.add_argument(
        "--mixture-weights",
        choices=["learned", "uniform"],
        default="learned",
        help="the prior's pi: trained (the paper) or fixed at 1/K",
    )
    p.add_argument("--scaling", default="minmax", help="data scaling (the --init-from autoencoder's: unit)")
    p.add_argument("--precision", default="bf16-mixed")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    if args.save_prior and not args.save_prior.endswith(".npz"):
        p.error(f"--save-prior {args.save_prior}: the name must end in .npz (numpy would append it)")
    torch.set_num_threads(args.threads)
    pl.seed_everything(args.seed, verbose=False)
    dm = flat_data(args.data, args.scaling, args.seed)
    model = VaDE(
        dm.n_features,
        dm.n_classes,
        pretrain_epochs=args.pretrain_epochs,
        epochs=args.epochs,
        pretrain_loss=args.pretrain_loss,
        activation=args.activation,
        encoder_init=args.encoder_init,
        optimizer={"name": "adam", "lr": args.lr},
        init=args.head_init,
        mixture_weights=args.mixture_weights,
        seed=args.seed,
    )
    model.cluster_head.reconstruction_weight = args.reconstruction_weight
    if args.init_from:
        missing, unexpected = model.encoder.load_state_dict(torch.load(args.init_from), strict=False)
        if unexpected or [k for k in missing if not k.startswith("logvar_layer.")]:
            raise SystemExit(f"{args.init_from} does not fit: missing {missing}, unexpected {unexpected}")
        if args.freeze_encoder_pretrain:
            model.encoder.encoder.requires_grad_(False)
    if args.augment:
        augment_pretraining(model, dm)
        model.joint_augmentation = args.augment_joint
    elif args.augment_joint:
        raise SystemExit("--augment-joint needs --augment")
    if args.decay != 1.0:
        model.lr_schedule = {"name": "step", "step_size": 10, "gamma": args.decay}
    tag = {
        "data": args.data,
        "seed": args.seed,
        "pretrain_epochs": args.pretrain_epochs,
        "lr": args.lr,
        "decay": args.decay,
        "reconstruction_weight": args.reconstruction_weight,
        "pretrain_loss": args.pretrain_loss,
        "activation": args.activation,
        "encoder_init": args.encoder_init,
        "logvar_init": args.logvar_init,
        "init_from": args.init_from and os.path.basename(args.init_from),
        "freeze_encoder_pretrain": args.freeze_encoder_pretrain,
        "augment": args.augment,
        "augment_joint": args.augment_joint,
        "head_init": args.head_init,
        "mixture_weights": args.mixture_weights,
    }
    pl.Trainer(
        max_epochs=args.pretrain_epochs + args.epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        precision=args.precision,
        callbacks=[EpochAccuracy(dm, tag, args.logvar_init, args.save_pretrained, args.save_prior)],
    ).fit(model, datamodule=dm)


if __name__ == "__main__":
    main()
