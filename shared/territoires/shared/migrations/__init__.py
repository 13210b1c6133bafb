"""Alembic migrations of the platform's schema (`territoires db upgrade`)."""
