"""DEC / IDEC with per-batch targets and the augmentation-invariant loss (the BRB paper's DEC)."""

import pytest
import pytorch_lightning as pl
import torch

from pyagc.augmentations import RandomAffine
from pyagc.clusters import DECClusterHead, IDECClusterHead, kl_divergence, student_t_assignment, target_distribution
from pyagc.data import TabularDataModule
from pyagc.encoders import MLPAutoencoder
from pyagc.models import ClusteringModule


def _initialized_head(**kw) -> tuple[DECClusterHead, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    z = torch.cat([torch.randn(15, 2, generator=g) + torch.tensor(c) for c in ([0.0, 0.0], [5.0, 0.0], [0.0, 5.0])])
    head = DECClusterHead(3, 2, **kw)
    head.initialize(z)
    return head, z


def test_update_interval_none_uses_each_batch_target():
    head, z = _initialized_head(update_interval=None)
    assert head.refresh_interval is None and head.target.numel() == 0
    batch = z[:10]
    out = head(batch, index=torch.arange(10))
    q = student_t_assignment(batch, head.centers.detach())
    expected = kl_divergence(target_distribution(q), q)  # frequencies over the batch, not the data set
    assert torch.allclose(out.total, expected)
    with pytest.raises(ValueError, match="None for per-batch"):
        DECClusterHead(3, 2, update_interval=0)


def test_augmentation_invariant_loss_is_the_mean_of_clean_and_view_terms_against_the_clean_target():
    head, z = _initialized_head(update_interval=None, augmentation_invariance=True)
    assert head.uses_views and head.views_include_clean
    clean, view = z[:12], z[:12] + 0.7
    out = head(clean, views=(clean, view), index=torch.arange(12))
    centres = head.centers.detach()
    q_clean, q_view = student_t_assignment(clean, centres), student_t_assignment(view, centres)
    p = target_distribution(q_clean)
    expected = 0.5 * (kl_divergence(p, q_clean) + kl_divergence(p, q_view))
    assert torch.allclose(out.total, expected)
    assert not torch.allclose(out.total, kl_divergence(p, q_clean))
    view.requires_grad_(True)
    head(clean, views=(clean, view)).total.backward()
    assert view.grad is not None and view.grad.abs().sum() > 0  # the view's assignments are trained
    with pytest.raises(ValueError, match="augmentation"):
        head(clean)  # no views in the context


def test_idec_passes_the_view_through():
    head = IDECClusterHead(2, 2, gamma=1.0, update_interval=None, augmentation_invariance=True)
    z = torch.randn(10, 2)
    head.initialize(z)
    x = torch.zeros(10, 4)
    with_view = head(z, views=(z, z + 3.0), x=x, x_hat=x)
    same_view = head(z, views=(z, z), x=x, x_hat=x)
    assert not torch.allclose(with_view.total, same_view.total)
    assert torch.allclose(same_view.total, same_view.components["kl"])  # zero reconstruction error


def test_module_embeds_the_clean_batch_and_one_affine_view_on_digits(one_thread):
    dm = TabularDataModule("digits", scaling="minmax", batch_size=128, seed=0)
    dm.setup()
    torch.manual_seed(0)
    enc = MLPAutoencoder(dm.n_features, hidden_dims=(32,), latent_dim=5)
    head = DECClusterHead(dm.n_classes, 5, update_interval=None, augmentation_invariance=True)
    aug = RandomAffine(image_shape=(1, 8, 8))
    model = ClusteringModule(enc, head, pretrain_epochs=1, epochs=2, augmentation=aug)
    seen = []
    original = head.forward

    def spy(z, index=None, views=None):  # the head receives what DEC's forward names: index and views
        seen.append((z.detach(), views[0].detach(), views[1].detach(), model.embed(dm.x[index]).detach()))
        return original(z, index=index, views=views)

    head.forward = spy
    trainer = pl.Trainer(
        max_epochs=3,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_train_batches=3,
    )
    trainer.fit(model, datamodule=dm)
    assert seen, "the head was never called in joint training"
    z, first, second, clean = seen[0]
    assert torch.equal(z, first)  # the loss's z is the first view ...
    assert torch.allclose(first, clean, atol=1e-5)  # ... which is the clean batch
    assert not torch.allclose(second, clean, atol=1e-3)  # the second is an affine view
    labels = model.infer_full(dm)
    assert labels.shape == (dm.n_samples,) and len(torch.unique(labels)) > 1
