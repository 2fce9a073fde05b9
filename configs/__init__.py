"""The Hydra configs, shipped inside the package as ``pyagc.configs``."""
