"""Inference: super-resolve whole volumes with sliding windows on the LR grid (``inference.api.super_resolve``)."""
