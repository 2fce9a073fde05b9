"""VaDE head (Jiang et al., IJCAI 2017), the variational encoders and ClusteringModule's variational path."""

import math

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.datasets import make_blobs

from pyagc.clusters import DECClusterHead, LossOutput, VaDEClusterHead, kmeans, vade_responsibilities
from pyagc.data import TabularDataModule
from pyagc.encoders import ConvAutoencoder, MLPAutoencoder
from pyagc.metrics import external_metrics
from pyagc.models import ClusteringModule, VaDE, validate_pairing


def tiny_head() -> VaDEClusterHead:
    """K=2 components in J=2 dimensions with hand-picked prior parameters."""
    head = VaDEClusterHead(2, 2, reconstruction="bce")
    with torch.no_grad():
        head.pi_logits.copy_(torch.log(torch.tensor([0.3, 0.7])))
        head.means.copy_(torch.tensor([[0.0, 0.0], [2.0, 1.0]]))
        head.log_vars.copy_(torch.log(torch.tensor([[1.0, 0.5], [2.0, 1.0]])))
    head.mark_initialized()  # the prior is set by hand: no initialisation from the first embeddings
    return head


def numpy_negative_elbo(z, mu, logvar, x, x_hat, pi, means, variances):
    """Paper eq. 12 with L=1, written out term by term (D/2 log 2pi constants cancel)."""
    n, k = z.shape[0], len(pi)
    gamma = np.zeros((n, k))
    for i in range(n):
        for c in range(k):
            dens = np.prod(np.exp(-((z[i] - means[c]) ** 2) / (2 * variances[c])) / np.sqrt(2 * np.pi * variances[c]))
            gamma[i, c] = pi[c] * dens
        gamma[i] /= gamma[i].sum()
    total = 0.0
    for i in range(n):
        rec = -np.sum(x[i] * np.log(x_hat[i]) + (1 - x[i]) * np.log(1 - x_hat[i]))
        s2 = np.exp(logvar[i])
        elbo = -rec
        for c in range(k):
            elbo -= (
                0.5
                * gamma[i, c]
                * np.sum(np.log(variances[c]) + s2 / variances[c] + (mu[i] - means[c]) ** 2 / variances[c])
            )
            elbo += gamma[i, c] * np.log(pi[c] / gamma[i, c])
        elbo += 0.5 * np.sum(1 + logvar[i])
        total -= elbo
    return total / n, gamma


def tiny_batch():
    z = torch.tensor([[0.1, -0.2], [1.5, 1.2], [3.0, 0.5]])
    mu = torch.tensor([[0.0, -0.1], [1.7, 1.0], [2.8, 0.4]])
    logvar = torch.tensor([[-1.0, -0.5], [0.0, -2.0], [0.3, -0.2]])
    x = torch.tensor([[0.0, 1.0, 0.5], [1.0, 0.2, 0.0], [0.3, 0.3, 1.0]])
    x_hat = torch.tensor([[0.1, 0.8, 0.5], [0.7, 0.3, 0.2], [0.4, 0.2, 0.9]])
    return z, mu, logvar, x, x_hat


def test_negative_elbo_matches_hand_computation():
    head = tiny_head()
    z, mu, logvar, x, x_hat = tiny_batch()
    out = head(z, mu=mu, logvar=logvar, x=x, x_hat=x_hat)
    assert isinstance(out, LossOutput) and out.total.dim() == 0
    pi, means, variances = np.array([0.3, 0.7]), head.means.detach().numpy(), head.log_vars.detach().exp().numpy()
    expected, gamma = numpy_negative_elbo(
        *(t.double().numpy() for t in (z, mu, logvar, x, x_hat)), pi, means, variances
    )
    assert out.total.item() == pytest.approx(expected, rel=1e-5)
    comps = out.components
    assert (comps["reconstruction"] + comps["kl_latent"] + comps["kl_cluster"]).item() == pytest.approx(
        expected, rel=1e-5
    )
    rec = -np.mean(np.sum(x.numpy() * np.log(x_hat.numpy()) + (1 - x.numpy()) * np.log(1 - x_hat.numpy()), 1))
    assert comps["reconstruction"].item() == pytest.approx(rec, rel=1e-5)
    kl_c = np.mean(np.sum(gamma * np.log(gamma / pi), 1))
    assert comps["kl_cluster"].item() == pytest.approx(kl_c, rel=1e-5)
    # gamma (eq. 16) from the sample z, rows summing to 1
    lp, m, lv = head._prior()
    g = vade_responsibilities(z, lp, m, lv)
    assert np.allclose(g.detach().numpy(), gamma, atol=1e-6)
    assert torch.allclose(g.sum(1), torch.ones(3))


def test_kl_vanishes_when_posterior_equals_the_only_component():
    head = tiny_head()
    with torch.no_grad():  # one component takes (almost) all the prior mass
        head.pi_logits.copy_(torch.tensor([30.0, 0.0]))
    mu = torch.tensor([[0.0, 0.0]])
    logvar = head.log_vars[0:1].detach().clone()
    x = torch.tensor([[1.0, 0.0]])
    out = head(mu.clone(), mu=mu, logvar=logvar, x=x, x_hat=torch.tensor([[0.5, 0.5]]))
    assert out.components["kl_latent"].item() == pytest.approx(0.0, abs=1e-5)
    assert out.components["kl_cluster"].item() == pytest.approx(0.0, abs=1e-5)
    assert out.components["reconstruction"].item() == pytest.approx(2 * math.log(2), rel=1e-6)


def test_reconstruction_weight_scales_only_the_reconstruction_term():
    z, mu, logvar, x, x_hat = tiny_batch()
    plain = tiny_head()(z, mu=mu, logvar=logvar, x=x, x_hat=x_hat)
    weighted_head = tiny_head()
    weighted_head.reconstruction_weight = 256.0
    weighted = weighted_head(z, mu=mu, logvar=logvar, x=x, x_hat=x_hat)
    for name in ("reconstruction", "kl_latent", "kl_cluster"):  # components are reported unweighted
        assert weighted.components[name].item() == pytest.approx(plain.components[name].item(), rel=1e-6)
    c = plain.components
    expected = 256.0 * c["reconstruction"] + c["kl_latent"] + c["kl_cluster"]
    assert weighted.total.item() == pytest.approx(expected.item(), rel=1e-6)
    # the preset passes the weight to its head (clustpy's VaDE: reconstruction summed over the batch = batch size)
    model = VaDE(64, 3, hidden_dims=(16,), n_features=2, reconstruction_weight=256.0)
    assert model.cluster_head.reconstruction_weight == 256.0
    with pytest.raises(ValueError, match="non-negative"):
        VaDE(64, 3, hidden_dims=(16,), n_features=2, reconstruction_weight=-1.0)


def test_mse_reconstruction_is_summed_squared_error():
    head = VaDEClusterHead(2, 2, reconstruction="mse")
    z, mu, logvar, x, x_hat = tiny_batch()
    out = head(z, mu=mu, logvar=logvar, x=x * 5 - 2, x_hat=x_hat)  # any real inputs
    expected = ((x_hat - (x * 5 - 2)) ** 2).sum(1).mean()
    assert out.components["reconstruction"].item() == pytest.approx(expected.item(), rel=1e-6)


def test_cluster_shapes_dtypes_and_rows():
    head = tiny_head()
    z = torch.tensor([[0.0, 0.0], [2.0, 1.0], [-0.5, 0.2], [2.5, 1.5]])
    labels = head.cluster(z)
    assert labels.dtype == torch.int64 and labels.shape == (4,) and labels.tolist() == [0, 1, 0, 1]
    soft = head.cluster(z, soft=True)
    assert soft.shape == (4, 2) and soft.dtype == torch.float32
    assert torch.allclose(soft.sum(1), torch.ones(4)) and torch.equal(soft.argmax(1), labels)


def small_vae(d: int = 6, latent: int = 2) -> MLPAutoencoder:
    torch.manual_seed(0)
    return MLPAutoencoder(d, hidden_dims=[16], latent_dim=latent, variational=True, output_activation="sigmoid")


def test_gradients_reach_prior_and_encoder_in_joint_phase_only():
    enc = small_vae()
    head = VaDEClusterHead(2, 2)
    model = ClusteringModule(enc, head, pretrain_epochs=1)
    x = torch.rand(20, 6)
    model.initialize_head(x)
    out = model.compute_loss({"x": x, "index": torch.arange(20)}, phase="joint")
    out.total.backward()
    for name, p in [
        ("pi_logits", head.pi_logits),
        ("means", head.means),
        ("log_vars", head.log_vars),
        ("encoder mean layer", enc.encoder[-1].weight),
        ("encoder logvar layer", enc.logvar_layer.weight),
        ("encoder first layer", enc.encoder[0].weight),
        ("decoder", enc.decoder[0].weight),
    ]:
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    model.zero_grad(set_to_none=True)
    # pretraining is a plain AE on the mean: no gradient to the prior or the log-variance layer
    model.compute_loss({"x": x}, phase="pretrain").total.backward()
    assert enc.encoder[0].weight.grad.abs().sum() > 0
    assert enc.logvar_layer.weight.grad is None and head.means.grad is None and head.pi_logits.grad is None


def test_joint_phase_samples_from_the_posterior():
    enc = small_vae()
    head = VaDEClusterHead(2, 2)
    seen = {}

    def spy(module, args, kwargs):
        seen.update(z=args[0].detach(), **{k: kwargs[k] for k in ("mu", "logvar", "x_hat")})

    head.register_forward_pre_hook(spy, with_kwargs=True)
    model = ClusteringModule(enc, head)
    x = torch.rand(200, 6)
    model.initialize_head(x)
    model.compute_loss({"x": x}, phase="joint")
    mu, logvar = enc.encode_distribution(x)
    assert torch.allclose(seen["mu"], mu) and torch.allclose(seen["logvar"], logvar)
    eps = (seen["z"] - mu.detach()) / torch.exp(0.5 * logvar.detach())
    assert abs(eps.mean().item()) < 0.2 and abs(eps.std().item() - 1.0) < 0.2  # z = mu + eps * sigma
    assert torch.allclose(seen["x_hat"], enc.decode(seen["z"]))
    assert torch.allclose(enc(x), mu)  # embeddings (and clustering) use the mean


def test_initialize_gmm_and_kmeans_on_blobs():
    x, y = make_blobs(n_samples=300, centers=[[0, 0], [12, 0], [0, 12]], cluster_std=[0.5, 1.0, 1.5], random_state=0)
    z = torch.tensor(x, dtype=torch.float32)
    ref = kmeans(z, 3, n_init=10, seed=0).centers.numpy()
    for init in ("gmm", "gmm_full", "kmeans"):
        head = VaDEClusterHead(3, 2, init=init, seed=0)
        head.initialize(z)
        assert head.is_initialized
        assert head.pi.sum().item() == pytest.approx(1.0, abs=1e-6)
        assert np.allclose(np.sort(head.pi.detach().numpy()), [1 / 3] * 3, atol=0.02)
        means = head.means.detach().numpy()
        cost = ((means[:, None] - ref[None]) ** 2).sum(2)
        rows, cols = linear_sum_assignment(cost)
        assert cost[rows, cols].max() < 0.05, init
        stds = np.sort(np.exp(0.5 * head.log_vars.detach().numpy()).mean(1))
        assert np.allclose(stds, [0.5, 1.0, 1.5], rtol=0.15), (init, stds)
        assert external_metrics(y, head.cluster(z).numpy())["acc"] > 0.98


def _parallel_elongated_pair(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two parallel clusters stretched along (1, 1) (std 2), 3 apart along (1, -1) (std 0.5)."""
    rng = np.random.default_rng(seed)
    along, across = np.array([1.0, 1.0]) / np.sqrt(2), np.array([1.0, -1.0]) / np.sqrt(2)
    y = np.repeat([0, 1], n)
    x = (
        rng.normal(0, 2.0, (2 * n, 1)) * along
        + rng.normal(0, 0.5, (2 * n, 1)) * across
        + np.where(y[:, None] == 0, -1.5, 1.5) * across
    )
    return x, y


def test_gmm_full_init_is_the_diagonal_projection_of_a_full_mixture():
    """init="gmm_full": weights, means and covariance diagonals of scikit-learn's full-covariance fit; on
    correlated clusters that a diagonal EM fit cuts across, the projected prior keeps the full fit's partition."""
    from sklearn.mixture import GaussianMixture

    x, y = _parallel_elongated_pair()
    z = torch.tensor(x, dtype=torch.float32)
    full = VaDEClusterHead(2, 2, init="gmm_full", seed=0)
    full.initialize(z)
    ref = GaussianMixture(2, covariance_type="full", n_init=10, random_state=0).fit(z.double().numpy())
    assert np.allclose(full.pi.detach().numpy(), ref.weights_, atol=1e-5)
    assert np.allclose(full.means.detach().numpy(), ref.means_, atol=1e-5)
    assert np.allclose(
        torch.exp(full.log_vars).detach().numpy(), np.diagonal(ref.covariances_, axis1=1, axis2=2), rtol=1e-4
    )
    diag = VaDEClusterHead(2, 2, init="gmm", seed=0)
    diag.initialize(z)
    assert external_metrics(y, diag.cluster(z).numpy())["acc"] < 0.8  # the diagonal fit splits along the long axis
    assert external_metrics(y, full.cluster(z).numpy())["acc"] > 0.98
    default = VaDEClusterHead(2, 2, seed=0)  # the default start is the projected full fit
    default.initialize(z)
    assert torch.equal(default.log_vars, full.log_vars) and torch.equal(default.means, full.means)


def test_uniform_mixture_weights_stay_fixed():
    """mixture_weights="uniform": pi = 1/K whatever the fit's frequencies, and the ELBO does not train it."""
    x, y = make_blobs(n_samples=400, centers=[[0, 0], [8, 0]], cluster_std=1.0, random_state=0)
    x = np.concatenate([x[y == 0], x[y == 1][:50]])  # frequencies 200 : 50
    z = torch.tensor(x, dtype=torch.float32)
    learned, uniform = VaDEClusterHead(2, 2, seed=0), VaDEClusterHead(2, 2, mixture_weights="uniform", seed=0)
    learned.initialize(z)
    uniform.initialize(z)
    assert np.allclose(np.sort(learned.pi.detach().numpy()), [0.2, 0.8], atol=0.02)
    assert torch.allclose(uniform.pi, torch.full((2,), 0.5))
    assert torch.allclose(uniform.means, learned.means) and torch.allclose(uniform.log_vars, learned.log_vars)
    enc = small_vae()
    head = VaDEClusterHead(2, 2, mixture_weights="uniform")
    model = ClusteringModule(enc, head)
    xs = torch.rand(20, 6)
    model.initialize_head(xs)
    model.compute_loss({"x": xs}, phase="joint").total.backward()
    assert head.pi_logits.grad is None and head.means.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="mixture_weights"):
        VaDEClusterHead(2, 2, mixture_weights="fixed")


def test_bf16_autocast_gives_float32_losses():
    head = tiny_head()
    z, mu, logvar, x, x_hat = tiny_batch()
    ref = head(z, mu=mu, logvar=logvar, x=x, x_hat=x_hat).total
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = head(z.bfloat16(), mu=mu.bfloat16(), logvar=logvar.bfloat16(), x=x, x_hat=x_hat.bfloat16())
    assert out.total.dtype == torch.float32 and torch.isfinite(out.total)
    assert out.total.item() == pytest.approx(ref.item(), rel=0.05)


def test_end_to_end_on_digits_and_checkpoint_round_trip(tmp_path, one_thread):
    pl.seed_everything(0, verbose=False)
    dm = TabularDataModule("digits", scaling="minmax", batch_size=256, seed=0)
    model = VaDE(64, 10, hidden_dims=(256, 256), pretrain_epochs=20, epochs=10, n_init=2, seed=0)
    pl.Trainer(
        max_epochs=30,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    ).fit(model, datamodule=dm)
    assert model.cluster_head.is_initialized and int(model.joint_steps) == 10 * 8
    labels = model.infer_full(dm)
    assert labels.shape == (1797,) and labels.dtype == torch.int64
    assert external_metrics(dm.y.numpy(), labels.numpy())["acc"] > 0.65  # chance is ~0.1; ~0.78 here
    torch.save(model.state_dict(), tmp_path / "m.pt")
    fresh = VaDE(64, 10, hidden_dims=(256, 256), seed=0)
    fresh.load_state_dict(torch.load(tmp_path / "m.pt"))
    assert torch.equal(fresh.infer_full(dm), labels)
    assert torch.allclose(fresh.infer_full(dm, soft=True), model.infer_full(dm, soft=True))


def test_bad_inputs_fail_with_clear_messages():
    head = tiny_head()
    z, mu, logvar, x, x_hat = tiny_batch()
    with pytest.raises(ValueError, match=r"inputs in \[0, 1\].*scaling=minmax"):
        head(z, mu=mu, logvar=logvar, x=x - 0.5, x_hat=x_hat)
    with pytest.raises(ValueError, match="output_activation=sigmoid"):
        head(z, mu=mu, logvar=logvar, x=x, x_hat=x_hat * 3)
    with pytest.raises(ValueError, match="mu.*logvar.*variational"):
        head(z, x=x, x_hat=x_hat)
    with pytest.raises(ValueError, match="shape of z"):
        head(z, mu=mu[:2], logvar=logvar, x=x, x_hat=x_hat)
    with pytest.raises(ValueError, match="expects embeddings of shape|built for 2-dimensional"):
        head.cluster(torch.zeros(3, 5))
    bad = z.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match="NaN"):
        head(bad, mu=mu, logvar=logvar, x=x, x_hat=x_hat)
    with pytest.raises(ValueError, match="unknown reconstruction"):
        VaDEClusterHead(2, 2, reconstruction="l1")
    with pytest.raises(ValueError, match="unknown init"):
        VaDEClusterHead(2, 2, init="random")
    with pytest.raises(ValueError, match="larger than the number of samples"):
        VaDEClusterHead(5, 2).initialize(torch.randn(3, 2))
    # a variational head with a plain autoencoder: told to set encoder.variational=true
    plain = MLPAutoencoder(6, hidden_dims=[8], latent_dim=2)
    model = ClusteringModule(plain, VaDEClusterHead(2, 2))
    with pytest.raises(ValueError, match="encoder.variational=true"):
        model.compute_loss({"x": torch.rand(4, 6)}, phase="joint")
    with pytest.raises(ValueError, match="encoder.variational=true"):
        VaDE(encoder=plain, n_clusters=2)
    with pytest.raises(ValueError, match="variational=true"):
        plain.encode_distribution(torch.rand(2, 6))
    dm = TabularDataModule("digits", scaling="minmax", limit=50)
    with pytest.raises(ValueError, match="encoder.variational=true"):
        validate_pairing(ClusteringModule(MLPAutoencoder(64, [8], 10), VaDEClusterHead(10, 10)), dm)
    # non-variational heads keep working with a variational encoder (they use the mean)
    vae = small_vae()
    m = ClusteringModule(vae, DECClusterHead(2, 2, update_interval=1))
    m.initialize_head(torch.rand(10, 6))
    assert torch.isfinite(m.compute_loss({"x": torch.rand(10, 6), "index": torch.arange(10)}, phase="joint").total)


def test_conv_autoencoder_variational_option():
    torch.manual_seed(0)
    enc = ConvAutoencoder(1, 16, channels=(4, 8), latent_dim=3, variational=True, output_activation="sigmoid")
    x = torch.rand(5, 1, 16, 16)
    mu, logvar = enc.encode_distribution(x)
    assert mu.shape == logvar.shape == (5, 3) and torch.allclose(mu, enc.encode(x))
    out = enc.decode(mu)
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    with pytest.raises(ValueError, match="variational=true"):
        ConvAutoencoder(1, 16, channels=(4, 8), latent_dim=3).encode_distribution(x)
