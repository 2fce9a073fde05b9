r"""Variational Deep Embedding (VaDE) head.

Jiang, Zheng, Tan, Tang & Zhou, *Variational Deep Embedding: An Unsupervised and Generative
Approach to Clustering*, IJCAI 2017, https://arxiv.org/abs/1611.05148.

Generative model: a cluster :math:`c \sim \mathrm{Cat}(\boldsymbol\pi)`, an embedding
:math:`\mathbf z \mid c \sim \mathcal N(\boldsymbol\mu_c, \operatorname{diag}\boldsymbol\sigma_c^2)` and an
observation :math:`\mathbf x \sim p(\mathbf x \mid \mathbf z)` given by the decoder (Bernoulli or
Gaussian). The prior parameters are learnable: :math:`\boldsymbol\pi = \operatorname{softmax}(\mathbf a)`,
:math:`\boldsymbol\mu_c` and :math:`\log\boldsymbol\sigma_c^2`. The encoder gives
:math:`q(\mathbf z \mid \mathbf x) = \mathcal N(\tilde{\boldsymbol\mu}, \operatorname{diag}\tilde{\boldsymbol\sigma}^2)`
and :math:`q(c \mid \mathbf x)` is the posterior responsibility of the sampled embedding
(paper eq. 16),

.. math::
    \gamma_c = \frac{\pi_c\, \mathcal N(\mathbf z \mid \boldsymbol\mu_c, \boldsymbol\sigma_c^2)}
                    {\sum_{c'} \pi_{c'}\, \mathcal N(\mathbf z \mid \boldsymbol\mu_{c'}, \boldsymbol\sigma_{c'}^2)},
    \qquad \mathbf z = \tilde{\boldsymbol\mu} + \boldsymbol\epsilon \odot \tilde{\boldsymbol\sigma},
    \ \boldsymbol\epsilon \sim \mathcal N(\mathbf 0, \mathbf I).

The loss is the negative ELBO (paper eq. 12, one sample :math:`L = 1`), averaged over the batch,
written as three non-negative terms:

.. math::
    -\mathcal L_{\mathrm{ELBO}}(\mathbf x) =
      \underbrace{-\log p(\mathbf x \mid \mathbf z)}_{\text{reconstruction}}
    + \underbrace{\sum_c \gamma_c\, \tfrac12 \sum_{j=1}^{J}\Bigl(\log\frac{\sigma_{cj}^2}{\tilde\sigma_j^2}
        + \frac{\tilde\sigma_j^2}{\sigma_{cj}^2} + \frac{(\tilde\mu_j - \mu_{cj})^2}{\sigma_{cj}^2} - 1\Bigr)}_{
        \text{kl\_latent} = \sum_c \gamma_c \mathrm{KL}(q(\mathbf z\mid\mathbf x) \,\Vert\, p(\mathbf z \mid c))}
    + \underbrace{\sum_c \gamma_c \log\frac{\gamma_c}{\pi_c}}_{\text{kl\_cluster}}

with the Bernoulli decoder :math:`-\log p(\mathbf x\mid\mathbf z) = -\sum_i x_i\log\hat x_i + (1-x_i)\log(1-\hat x_i)`
(binary cross-entropy summed over the :math:`D` features, inputs in :math:`[0, 1]`; paper, MNIST) or
the Gaussian one :math:`\sum_i (x_i - \hat x_i)^2` (summed squared error, as the authors' code for
real-valued data). Cluster assignments use the responsibilities of the **mean** embedding
:math:`\tilde{\boldsymbol\mu}` (deterministic). The paper (Sec. 3.2) initialises the prior from a diagonal
GMM fitted on the pretrained autoencoder's embeddings (``init="gmm"``).

The default, ``init="gmm_full"``, fits a *full*-covariance mixture instead and keeps its weights, means and the
diagonals of its covariances, :math:`\boldsymbol\sigma_c^2 = \operatorname{diag}\boldsymbol\Sigma_c`: the
diagonal Gaussian closest to each full component in :math:`\mathrm{KL}(\mathcal N(\boldsymbol\mu_c,
\boldsymbol\Sigma_c) \Vert \mathcal N(\boldsymbol\mu_c, \operatorname{diag}\boldsymbol\sigma_c^2))` (moment
matching), which is also the diagonal model's M-step from the full model's responsibilities. On a
barely trained embedding the clusters are elongated and correlated, and a diagonal EM fit splits some
and merges others; the full fit finds the partition, the projection puts it into VaDE's diagonal prior
(ACC +0.029 at the start on MNIST after 5 pretraining epochs, +0.026 on digits and +0.089 on USPS after 50 + 50
epochs: ``benchmarks/vade_vs_clustpy_*.md``, session 14).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pyagc.clusters.base import BaseClusterHead, LossOutput
from pyagc.functional.kmeans import kmeans

_RECONSTRUCTIONS = ("bce", "mse")
_INITS = ("gmm", "gmm_full", "kmeans")
_LOG_2PI = math.log(2.0 * math.pi)


def gaussian_mixture_log_joint(z: Tensor, log_pi: Tensor, means: Tensor, log_vars: Tensor) -> Tensor:
    r""":math:`\log \pi_c + \log \mathcal N(\mathbf z_i \mid \boldsymbol\mu_c, \operatorname{diag}\boldsymbol\sigma_c^2)`, shape ``(N, K)``."""
    diff = z.unsqueeze(1) - means.unsqueeze(0)  # (N, K, J)
    log_normal = -0.5 * (_LOG_2PI + log_vars.unsqueeze(0) + diff.pow(2) * torch.exp(-log_vars).unsqueeze(0)).sum(2)
    return log_pi.unsqueeze(0) + log_normal


def vade_responsibilities(z: Tensor, log_pi: Tensor, means: Tensor, log_vars: Tensor) -> Tensor:
    r"""Posterior :math:`\gamma_{ic} = p(c \mid \mathbf z_i)` under the Gaussian mixture prior (rows sum to 1)."""
    return torch.softmax(gaussian_mixture_log_joint(z, log_pi, means, log_vars), dim=1)


def vade_kl_terms(
    mu: Tensor, logvar: Tensor, gamma: Tensor, log_pi: Tensor, means: Tensor, log_vars: Tensor
) -> tuple[Tensor, Tensor]:
    r"""Per-sample closed-form KL terms of VaDE's negative ELBO, each ``(N,)``:
    :math:`\sum_c \gamma_c \mathrm{KL}(\mathcal N(\tilde{\boldsymbol\mu}, \tilde{\boldsymbol\sigma}^2) \Vert \mathcal N(\boldsymbol\mu_c, \boldsymbol\sigma_c^2))`
    and :math:`\sum_c \gamma_c \log(\gamma_c / \pi_c)`.
    """
    lv_c = log_vars.unsqueeze(0)  # (1, K, J)
    var_ratio = torch.exp(logvar.unsqueeze(1) - lv_c)  # sigma~^2 / sigma_c^2
    sq = (mu.unsqueeze(1) - means.unsqueeze(0)).pow(2) * torch.exp(-lv_c)
    kl_per_cluster = 0.5 * (lv_c - logvar.unsqueeze(1) + var_ratio + sq - 1.0).sum(2)  # (N, K)
    kl_latent = (gamma * kl_per_cluster).sum(1)
    kl_cluster = (gamma * (torch.log(gamma.clamp_min(1e-12)) - log_pi.unsqueeze(0))).sum(1)
    return kl_latent, kl_cluster


class VaDEClusterHead(BaseClusterHead):
    r"""VaDE: a VAE whose prior is a learnable Gaussian mixture; loss = negative ELBO.

    Needs a variational autoencoder (``encode_distribution(x) -> (mu, logvar)``, e.g.
    ``MLPAutoencoder(variational=True)``); :class:`~pyagc.models.ClusteringModule` then calls
    ``head(z, mu=mu, logvar=logvar, x=x, x_hat=decode(z), index=...)`` with one reparametrised
    sample ``z``. In a manual loop pass the same keywords.

    Args:
        n_clusters: number of mixture components :math:`K`.
        n_features: latent size :math:`J`.
        reconstruction: ``"bce"`` (Bernoulli decoder, the paper's choice for MNIST: inputs must be in
            [0, 1] and the decoder must end in a sigmoid) or ``"mse"`` (Gaussian decoder, summed
            squared error, any real inputs).
        reconstruction_weight: weight of the reconstruction term (1: the ELBO).
        init: ``"gmm_full"`` (a full-covariance Gaussian mixture fitted by EM with scikit-learn on the CPU,
            projected onto the diagonal prior: its weights, means and covariance diagonals; see above),
            ``"gmm"`` (a diagonal mixture, the paper's start) or ``"kmeans"`` (pyagc's k-means on the
            embeddings' device; per-cluster variances and frequencies give
            :math:`\boldsymbol\sigma_c^2, \boldsymbol\pi`).
        n_init: restarts of the initial GMM / k-means.
        mixture_weights: ``"learned"`` (the paper: :math:`\boldsymbol\pi` initialised from the mixture fit
            and trained with the ELBO) or ``"uniform"`` (:math:`\pi_c = 1/K` fixed, the prior of
            balanced clusters: no component can grow by taking over another's mass).
        seed: seed of the initialisation.
    """

    uses_reconstruction = True
    uses_variational = True
    requires_initialization = True

    def __init__(
        self,
        n_clusters: int,
        n_features: int,
        reconstruction: str = "bce",
        reconstruction_weight: float = 1.0,
        init: str = "gmm_full",
        n_init: int = 10,
        mixture_weights: str = "learned",
        seed: int = 0,
    ) -> None:
        super().__init__(n_clusters)
        if reconstruction not in _RECONSTRUCTIONS:
            raise ValueError(f"unknown reconstruction {reconstruction!r}; valid: {list(_RECONSTRUCTIONS)}")
        if init not in _INITS:
            raise ValueError(f"unknown init {init!r}; valid: {list(_INITS)}")
        if mixture_weights not in ("learned", "uniform"):
            raise ValueError(f"unknown mixture_weights {mixture_weights!r}; valid: ['learned', 'uniform']")
        if reconstruction_weight < 0:
            raise ValueError(f"reconstruction_weight must be non-negative, got {reconstruction_weight}.")
        if int(n_init) < 1:
            raise ValueError(f"n_init must be >= 1, got {n_init}.")
        self.n_features = self.check_n_features(n_features)
        self.reconstruction = reconstruction
        self.reconstruction_weight = float(reconstruction_weight)
        self.init = init
        self.n_init = int(n_init)
        self.seed = int(seed)
        self.mixture_weights = mixture_weights
        self.pi_logits = nn.Parameter(torch.zeros(self.n_clusters), requires_grad=mixture_weights == "learned")
        self.means = nn.Parameter(torch.zeros(self.n_clusters, self.n_features))
        self.log_vars = nn.Parameter(torch.zeros(self.n_clusters, self.n_features))

    # ------------------------------------------------------------------ prior
    @property
    def pi(self) -> Tensor:
        r"""Mixture weights :math:`\boldsymbol\pi = \operatorname{softmax}(\mathbf a)`."""
        return torch.softmax(self.pi_logits.float(), 0)

    def _prior(self) -> tuple[Tensor, Tensor, Tensor]:
        return torch.log_softmax(self.pi_logits.float(), 0), self.means.float(), self.log_vars.float()

    @torch.no_grad()
    def initialize(self, z: Tensor, **context: Any) -> None:
        """Fit the prior to the embeddings of the whole training set (a Gaussian mixture or k-means, ``init``)."""
        self.check_initialization_input(z, self.n_features)
        z = z.detach().float()
        if self.init in ("gmm", "gmm_full"):
            from sklearn.mixture import GaussianMixture

            covariance_type = "diag" if self.init == "gmm" else "full"
            gmm = GaussianMixture(
                self.n_clusters, covariance_type=covariance_type, n_init=self.n_init, random_state=self.seed
            ).fit(z.cpu().double().numpy())
            weights = torch.as_tensor(gmm.weights_)
            means = torch.as_tensor(gmm.means_)
            variances = torch.as_tensor(gmm.covariances_)
            if covariance_type == "full":  # the diagonal Gaussian nearest each full component (moment matching)
                variances = torch.diagonal(variances, dim1=1, dim2=2)
        else:
            result = kmeans(z, self.n_clusters, n_init=self.n_init, seed=self.seed)
            counts = torch.bincount(result.labels, minlength=self.n_clusters).to(z)
            means = result.centers.to(z)
            sq = torch.zeros_like(means).index_add_(0, result.labels, (z - means[result.labels]).pow(2))
            variances = sq / counts.clamp_min(1).unsqueeze(1)
            # a cluster of one point has no spread: give it the data's variance
            variances = torch.where(counts.unsqueeze(1) > 1, variances, z.var(0, unbiased=False).expand_as(means))
            variances = variances + 1e-6
            weights = counts / counts.sum()
        if self.mixture_weights == "learned":
            self.pi_logits.data.copy_(torch.log(weights.clamp_min(1e-12)).to(self.pi_logits))
        self.means.data.copy_(means.to(self.means))
        self.log_vars.data.copy_(torch.log(variances).to(self.log_vars))
        self.mark_initialized()

    # ------------------------------------------------------------------ loss
    def _reconstruction_loss(self, x: Tensor, x_hat: Tensor) -> Tensor:
        x = x.reshape(x.shape[0], -1).float()
        x_hat = x_hat.reshape(x_hat.shape[0], -1).float()
        if x.shape != x_hat.shape:
            raise ValueError(f"x {tuple(x.shape)} and its reconstruction x_hat {tuple(x_hat.shape)} differ in size.")
        if self.reconstruction == "mse":
            return (x_hat - x).pow(2).sum(1).mean()
        lo, hi = torch.aminmax(x)
        if lo < 0 or hi > 1:
            raise ValueError(
                f"VaDEClusterHead(reconstruction='bce') needs inputs in [0, 1] but got values in "
                f"[{float(lo):.3g}, {float(hi):.3g}]. Scale the data to [0, 1] (data.scaling=minmax or unit) "
                "or use head.reconstruction=mse."
            )
        lo, hi = torch.aminmax(x_hat.detach())
        if lo < 0 or hi > 1:
            raise ValueError(
                "VaDEClusterHead(reconstruction='bce') needs reconstructions in [0, 1] (probabilities) but the "
                f"decoder gave values in [{float(lo):.3g}, {float(hi):.3g}]. End the decoder with a sigmoid "
                "(encoder.output_activation=sigmoid, as in encoder=mlp_vae) or use head.reconstruction=mse."
            )
        return F.binary_cross_entropy(x_hat, x, reduction="none").sum(1).mean()

    def forward(
        self,
        z: Tensor,
        mu: Tensor | None = None,
        logvar: Tensor | None = None,
        x: Tensor | None = None,
        x_hat: Tensor | None = None,
        **context: Any,
    ) -> LossOutput:
        r"""Negative ELBO of the batch; ``z`` is a sample of :math:`q(\\mathbf z\\mid\\mathbf x)`, ``x_hat = decode(z)``."""
        self.check_embeddings(z, self.n_features)
        if mu is None or logvar is None:
            raise ValueError(
                "VaDEClusterHead needs the encoder's posterior `mu` and `logvar` in the context: use a variational "
                "autoencoder (encoder.variational=true, e.g. encoder=mlp_vae) and call "
                "head(z, mu=mu, logvar=logvar, x=x, x_hat=decoder(z)) with z = mu + eps * exp(logvar / 2)."
            )
        if x is None or x_hat is None:
            raise ValueError("VaDEClusterHead needs the input `x` and the reconstruction `x_hat` = decoder(z).")
        if mu.shape != z.shape or logvar.shape != z.shape:
            raise ValueError(
                f"mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} must have the shape of z {tuple(z.shape)}."
            )
        with torch.autocast(device_type=z.device.type, enabled=False):
            log_pi, means, log_vars = self._prior()
            gamma = vade_responsibilities(z.float(), log_pi, means, log_vars)
            kl_latent, kl_cluster = vade_kl_terms(mu.float(), logvar.float(), gamma, log_pi, means, log_vars)
            kl_latent, kl_cluster = kl_latent.mean(), kl_cluster.mean()
            recon = self._reconstruction_loss(x, x_hat)
            total = self.reconstruction_weight * recon + kl_latent + kl_cluster
        return LossOutput(
            total=total, components={"reconstruction": recon, "kl_latent": kl_latent, "kl_cluster": kl_cluster}
        )

    @torch.no_grad()
    def cluster(self, z: Tensor, soft: bool = False) -> Tensor:
        r"""Responsibilities :math:`\\gamma` of the (mean) embeddings ``z``, or their argmax."""
        self.check_embeddings(z, self.n_features)
        with torch.autocast(device_type=z.device.type, enabled=False):
            log_pi, means, log_vars = (t.to(z.device) for t in self._prior())
            gamma = vade_responsibilities(z.float(), log_pi, means, log_vars)
        return gamma if soft else gamma.argmax(1)

    def extra_repr(self) -> str:
        return (
            f"n_clusters={self.n_clusters}, n_features={self.n_features}, "
            f"reconstruction={self.reconstruction!r}, init={self.init!r}, "
            f"mixture_weights={self.mixture_weights!r}"
        )
