"""The reference table, created by the harness (it is none of the platform's migrations)."""

CREATE_TABLE_SQL = (
    "CREATE TABLE IF NOT EXISTS bench_ref_event (id bigserial PRIMARY KEY, "
    "received_at timestamptz NOT NULL, signature varchar(80) NOT NULL, body bytea NOT NULL, "
    "status varchar(16) NOT NULL)"
)
