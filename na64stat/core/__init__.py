"""Shared helpers every stage uses: errors, output folders, bounded file loaders,
progress logging, packaged resources and reference curves, and local Dask
execution. Nothing here knows about physics or statistics."""
