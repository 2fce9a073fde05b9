"""scikit-learn-style estimators: ``fit`` / ``predict`` / ``fit_predict`` / ``transform`` / ``predict_proba``.

::

    from pyagc.estimators import DEC

    labels = DEC(n_clusters=10, random_state=0).fit_predict(X)
    DEC(n_clusters=10).fit(X_train).predict(X_new)     # new rows: scaled as the training rows, never refitted

Each estimator builds the same encoder, head and :class:`~pyagc.models.ClusteringModule` as ``pyagc-train`` (from
the same component configs) and trains them with the same Lightning ``Trainer.fit``; see
:class:`~pyagc.estimators.base.BaseDeepClusterer`. :class:`DeepClustering` takes any encoder and any
:class:`~pyagc.clusters.BaseClusterHead`, the user's own included.
"""

from pyagc.estimators.acedec import ACeDeC
from pyagc.estimators.base import BaseDeepClusterer
from pyagc.estimators.contrastive import ContrastiveClustering
from pyagc.estimators.dcn import DCN
from pyagc.estimators.dec import DEC
from pyagc.estimators.deepect import DeepECT
from pyagc.estimators.desom import DESOM
from pyagc.estimators.dipencoder import DipEncoder
from pyagc.estimators.dmon import DMoN
from pyagc.estimators.generic import DeepClustering
from pyagc.estimators.idec import IDEC
from pyagc.estimators.vade import VaDE

__all__ = [
    "ACeDeC",
    "BaseDeepClusterer",
    "ContrastiveClustering",
    "DCN",
    "DEC",
    "DESOM",
    "DeepClustering",
    "DeepECT",
    "DipEncoder",
    "DMoN",
    "IDEC",
    "VaDE",
]
