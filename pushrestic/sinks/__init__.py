"""Sinks: where a report goes. One module per sink, the same small signature each."""
