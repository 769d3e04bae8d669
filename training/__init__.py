"""Data import, training, evaluation and the model registry (later issues)."""
