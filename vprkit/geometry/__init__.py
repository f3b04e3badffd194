"""Geometry helpers: vectorised S2 cell math and UTM ↔ lat/lon conversion over NumPy arrays."""
