"""The version of vaekit, a leaf module: what a run's config.json, trackers and pages record, importable by every
layer without loading the package's lazy exports (`vaekit/__init__.py`)."""

__version__ = "0.2.0"
