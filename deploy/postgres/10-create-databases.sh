#!/bin/bash
# Creates the roles and databases of the docker-compose stack. The postgres image runs the
# scripts in /docker-entrypoint-initdb.d once, on the first start with an empty data volume;
# afterwards it never runs again, so changing a password variable later does not change
# the role: use `ALTER ROLE ... PASSWORD ...` (docker compose exec postgres psql -U postgres).
#
#   role temporal   owns temporal + temporal_visibility (schemas applied by temporalio/auto-setup)
#   role appraisal  owns appraisal (schema applied by the workers' migrations, infra/migrations)
#
# Neither role is a superuser or may create databases, and neither can connect to the
# other's databases.
set -euo pipefail

: "${TEMPORAL_DB_PASSWORD:?TEMPORAL_DB_PASSWORD must be set}"
: "${APPRAISAL_DB_PASSWORD:?APPRAISAL_DB_PASSWORD must be set}"

# psql variables (:'name') quote the passwords, whatever characters they contain.
psql --no-psqlrc -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    --set temporal_password="$TEMPORAL_DB_PASSWORD" \
    --set appraisal_password="$APPRAISAL_DB_PASSWORD" <<'SQL'
CREATE ROLE temporal LOGIN PASSWORD :'temporal_password';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
REVOKE ALL ON DATABASE temporal, temporal_visibility FROM PUBLIC;

CREATE ROLE appraisal LOGIN PASSWORD :'appraisal_password';
CREATE DATABASE appraisal OWNER appraisal;
REVOKE ALL ON DATABASE appraisal FROM PUBLIC;

-- Temporal's visibility schema starts with CREATE EXTENSION IF NOT EXISTS btree_gin;
-- create it here as the superuser so the temporal role needs no extra rights.
\connect temporal_visibility
CREATE EXTENSION IF NOT EXISTS btree_gin;
SQL
