-- The database layer's own statements: server facts, the migration lock and
-- version table, the embedded server's database, and session resets shared
-- by the features.

-- name: server_version
-- The server's version string (`pgwarden db status`).
SHOW server_version;

-- name: preloaded_libraries
-- shared_preload_libraries (pg_stat_statements, pg_partman, ...).
SHOW shared_preload_libraries;

-- name: database_exists
-- Whether a database of this name exists.
SELECT 1 FROM pg_database WHERE datname = %(name)s;

-- name: create_database
-- A database, named by an identifier.
CREATE DATABASE {database};

-- name: migration_lock
-- Session advisory lock for one schema's migrations (two upgrades take turns).
SELECT pg_advisory_lock(hashtext(%(key)s));

-- name: relation_exists
-- Whether a (schema-qualified, quoted) relation name resolves.
SELECT to_regclass(%(name)s) IS NOT NULL;

-- name: stored_revision
-- The revision in the schema's Alembic version table.
SELECT version_num FROM {schema}.{version_table};

-- name: relations_besides
-- How many tables, views and foreign tables the schema holds besides one.
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = %(schema_name)s AND c.relname <> %(except)s
   AND c.relkind IN ('r', 'p', 'v', 'm', 'f');

-- name: drop_schema
-- The schema and everything in it.
DROP SCHEMA IF EXISTS {schema} CASCADE;

-- name: reset_lock_timeout
-- Back to the server's lock_timeout after a session-level one (DDL that cannot
-- run in a transaction block).
RESET lock_timeout;

-- name: count_rows
-- Rows of one table, named by an identifier.
SELECT count(*) FROM {table};
