"""nas: neural architecture search with weight-sharing supernets.

Kept import-light on purpose: `import nas` must not pull in torch or Ray.
"""

__version__ = "0.1.0"
