"""Shared helpers every stage uses: errors, output folders, bounded file loaders,
progress logging, packaged resources and reference curves, local Dask
execution and reproducible ROOT files (:mod:`~na64stat.core.rootio`, written by
the simulation and the selection). Nothing here knows about physics or
statistics.
"""
