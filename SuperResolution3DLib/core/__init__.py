"""Core: the vocabulary every layer shares (errors, ``Volume`` and geometry, scale, precision, devices,
paths, folds, configuration). Imports nothing of the other layers, and not torch at import time."""
