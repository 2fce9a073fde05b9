"""pyagc: a modular deep-clustering framework (encoders x cluster heads, Lightning + Hydra)."""

__version__ = "0.1.0"
