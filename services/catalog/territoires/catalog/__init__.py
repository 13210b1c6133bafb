"""Territoires catalog service."""
