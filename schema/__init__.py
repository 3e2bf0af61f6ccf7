"""Strawberry types, inputs, scalars and the Schema object."""
