"""Helpers of the SuperResolution3D Slicer module: where things are, geometry between MRML and the library,
Python dependencies, and the background process. They need Slicer (MRML, VTK) but not the library's heavy
dependencies: the module loads fast and works before torch is installed."""
