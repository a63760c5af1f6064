#!/bin/sh
# Creates Temporal's two databases on PostgreSQL and brings their schema to the
# version this admin-tools image ships (docker-compose.yml's temporal-schema
# service, before the server starts). Runs again safely: `create` keeps an
# existing database, `setup-schema -v 0.0` skips a database already past 0.0,
# and `update-schema` applies only the versions it lacks, so a newer
# TEMPORAL_VERSION upgrades the schema on the next `up`.
#
# Environment: POSTGRES_SEEDS (host), POSTGRES_USER, SQL_PASSWORD (read by
# temporal-sql-tool), optional DB_PORT.
set -eu

: "${POSTGRES_SEEDS:?the PostgreSQL host}"
: "${POSTGRES_USER:?the PostgreSQL user}"
SCHEMA_DIR=/etc/temporal/schema/postgresql/v12

sql_tool() {  # <database> <temporal-sql-tool command...>
    database=$1
    shift
    temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "${DB_PORT:-5432}" \
        -u "$POSTGRES_USER" --db "$database" "$@"
}

upgrade() {  # <database> <its schema folder under $SCHEMA_DIR>
    sql_tool "$1" create
    sql_tool "$1" setup-schema -v 0.0
    sql_tool "$1" update-schema -d "$SCHEMA_DIR/$2/versioned"
    echo "database $1 is at the newest schema"
}

upgrade temporal temporal
upgrade temporal_visibility visibility
