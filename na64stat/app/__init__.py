"""The application layer: the main job, the reproduction of published figures and the command line.

Thin callers of the library stages.
"""
