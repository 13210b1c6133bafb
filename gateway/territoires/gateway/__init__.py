"""Territoires gateway service."""
