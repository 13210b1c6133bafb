"""Territoires tiles service."""
