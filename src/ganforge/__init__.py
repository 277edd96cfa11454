"""ganforge: train, evaluate, compare and share GANs for image generation."""

__version__ = "0.1.0"
