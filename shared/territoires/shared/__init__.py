"""Territoires common library: settings, database models, storage, indicator registry."""

__version__ = "0.1.0"
