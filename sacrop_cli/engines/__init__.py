"""What runs the network: the engine protocol, ONNX Runtime and torch, and their factory."""
