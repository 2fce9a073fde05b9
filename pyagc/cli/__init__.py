"""Command-line entry points ``pyagc-train`` and ``pyagc-eval`` (Hydra)."""
