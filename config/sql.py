"""PostgreSQL's hot paths: one model row INSERTed with a statement built once per model, and
Python lists sent as binary arrays.

Django's insert compiler rebuilds the statement on every save: for the 33 columns of an outbox
message that was about 0.4 ms of CPU per send request, several times what PostgreSQL spends on
it. Here the statement is built once per model from its concrete fields, and each value still
goes through the field's own `pre_save` and `get_db_prep_save`, so defaults, auto_now and JSON
adaptation stay Django's. It sends no model signals (the project has no receivers) and takes
plain values only, no expressions. Other databases get an ordinary `save(force_insert=True)`.
"""

import functools
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model


@functools.cache
def _insert_statement(model: type[Model]) -> tuple[str, tuple[Field, ...]]:  # type: ignore[type-arg]
    meta = model._meta
    fields = tuple(f for f in meta.concrete_fields if f is not meta.auto_field)
    columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    table = connection.ops.quote_name(meta.db_table)
    pk = connection.ops.quote_name(str(meta.pk.column))  # type: ignore[union-attr]
    sql = f"INSERT INTO {table} ({columns}) VALUES ({marks}) RETURNING {pk}"  # noqa: S608
    return sql, fields


def instance_insert(instance: Model) -> None:
    """INSERT `instance` (committed at once unless a transaction is open); its pk is set."""
    db = connections[DEFAULT_DB_ALIAS]  # the thread's connection itself, not the proxy
    if db.vendor != "postgresql":
        instance.save(force_insert=True)
        return
    sql, fields = _insert_statement(type(instance))
    values = [f.get_db_prep_save(f.pre_save(instance, True), db) for f in fields]
    with db.cursor() as cursor:
        cursor.execute(sql, values)
        instance.pk = cursor.fetchone()[0]
    instance._state.adding = False
    instance._state.db = db.alias


def lists_as_binary(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """`connection_created` receiver: a Python list goes to PostgreSQL as a binary array.

    bulk_create on PostgreSQL passes each column as one array (`INSERT ... SELECT * FROM
    UNNEST(%s::type[], ...)`), as do the workers' batch statements. psycopg dumps a list in the
    text format in Python, escaping every element with a regular expression: about 46 µs per
    1 KB JSON body, a third of the workers' CPU in the bench's backlog phase. The binary format
    copies the bytes (about 0.4 µs). Only with server-side binding: client-side binding cannot
    send binary parameters.
    """
    options = connection.settings_dict.get("OPTIONS", {})
    if connection.vendor == "postgresql" and options.get("server_side_binding"):
        from psycopg.types.array import ListBinaryDumper

        connection.connection.adapters.register_dumper(list, ListBinaryDumper)
