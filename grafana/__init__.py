"""The Grafana dashboard for pushrestic's metrics; ``generate.py`` writes ``dashboard.json``."""
