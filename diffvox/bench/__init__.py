"""Benchmark code shared by ``benchmarks/*.py`` and the book's benchmark chapter."""
