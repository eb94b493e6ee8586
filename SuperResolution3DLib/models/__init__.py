"""Models: model files (safetensors weights + JSON card), the bundled models and their cards.

``card`` needs only the standard library (the Slicer module reads cards without torch); ``files`` loads
and saves networks."""
