"""Alembic environment: runs on the connection `territoires.shared.schema` hands it."""

from alembic import context

from territoires.shared.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    include_object=lambda obj, name, type_, reflected, compare_to: (
        not (type_ == "table" and reflected and compare_to is None)
    ),
)
with context.begin_transaction():
    context.run_migrations()
