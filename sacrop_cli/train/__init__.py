"""Training and evaluation: datasets, the semi-supervised rank-consistency trainer, metrics."""
