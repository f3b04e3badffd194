"""Geometry over NumPy arrays: UTM ↔ lat/lon (:mod:`~vprkit.geometry.utm`), vectorised S2 cell
math, grid cells, convex hulls and class locators."""
