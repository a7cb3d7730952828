"""Statistical models: background estimates, pyhf workspaces built from
selection outputs and workspace configs, and combinations of several
experiments' workspaces.
"""
