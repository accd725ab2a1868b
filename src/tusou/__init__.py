"""tusou (图搜): a self-hosted image search engine."""

__version__ = "0.1.0"
