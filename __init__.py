"""Blender's entry point for the VirtualConductor extension: everything lives in ``addon/``."""

from .addon import register, unregister

__all__ = ["register", "unregister"]
