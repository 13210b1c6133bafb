"""Territoires compute service."""
