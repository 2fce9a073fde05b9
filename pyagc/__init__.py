"""pyagc: a modular deep-clustering framework (encoders x cluster heads, Lightning + Hydra)."""

import warnings

__version__ = "0.1.0"

# torch-geometric calls the deprecated torch.jit.script when imported: a warning on every run that users cannot act on
warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated", category=FutureWarning)
