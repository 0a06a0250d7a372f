"""pushrestic: report restic and autorestic backup runs to Prometheus."""

__version__ = "0.1.0"

__all__ = ["__version__"]
