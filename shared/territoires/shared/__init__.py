"""Territoires common library: what every service and the CLI share."""
