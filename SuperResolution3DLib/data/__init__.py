"""Data: files <-> ``Volume`` (io), the k-space degradation, intensity normalisation, training patch pairs
and the real scans of the offline data sources."""
