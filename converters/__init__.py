"""Weight converters: PyTorch / safetensors state dicts -> Flax parameter trees, and the JAX-vs-PyTorch parity CLI."""
