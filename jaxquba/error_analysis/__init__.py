"""Automated classification of ImageNet model errors (Peychev et al., NeurIPS 2023; PROTOCOLS.md P3)."""
