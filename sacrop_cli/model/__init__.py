"""The model and its files: format facts, network, checkpoints, graphs, export, registry."""
