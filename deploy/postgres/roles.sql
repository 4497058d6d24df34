-- Least-privilege PostgreSQL roles for the chatroom service (docs/audit.md).
--
--   owner  owns the schema and every table; `manage.py migrate` runs as this role.
--   app    what the web app, the realtime worker and the other commands connect as:
--          SELECT, INSERT, UPDATE, DELETE on the app's tables and USAGE on their
--          sequences, but on the audit log only SELECT, INSERT and UPDATE of the three
--          hash-chain columns (to seal entries; the table's trigger lets them be set
--          once, from NULL, and nothing else change), on the audit chain head no
--          DELETE, and never TRUNCATE, ALTER, DROP, triggers or session_replication_role
--          (that needs a superuser; neither role is one).
--
-- Run as a superuser, connected to the service's (already created) database, before
-- the first `migrate`, once more after it (that makes django_migrations read-only for
-- the app), and again whenever you like (it is idempotent):
--
--   createdb chatroom
--   psql -d chatroom -v owner=chatroom_owner -v app=chatroom_app -f deploy/postgres/roles.sql
--
-- Then give each role a password (`\password chatroom_owner` in psql) or use your
-- cluster's own authentication. The roles are created if they do not exist; existing
-- ones are made NOSUPERUSER and NOBYPASSRLS, so do not name your admin role here.

\set ON_ERROR_STOP on

-- The roles (cluster-wide). Neither can create databases or roles, and the app role
-- is not a member of the owner role, so it cannot act as the owner.
SELECT format('CREATE ROLE %I LOGIN', :'owner')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'owner') \gexec
SELECT format('CREATE ROLE %I LOGIN', :'app')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app') \gexec
ALTER ROLE :"owner" NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION;
ALTER ROLE :"app" NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION;
SELECT format('REVOKE %I FROM %I', :'owner', :'app')
WHERE pg_has_role(:'app', :'owner', 'MEMBER') \gexec

-- This database and its public schema belong to the owner; only the owner creates
-- objects in it (PostgreSQL before 15 lets every role create in public).
SELECT format('ALTER DATABASE %I OWNER TO %I', current_database(), :'owner') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database()) \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), :'app') \gexec
ALTER SCHEMA public OWNER TO :"owner";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app";

-- Tables the migrations create from now on, and the ones already there.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO :"app";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app";

-- Existing tables that were created by another role (say, a superuser who ran the
-- migrations before these roles existed) change hands to the owner.
SELECT format('ALTER TABLE %I.%I OWNER TO %I', schemaname, tablename, :'owner')
FROM pg_tables WHERE schemaname = 'public' AND tableowner <> :'owner' \gexec
SELECT format('ALTER SEQUENCE %I.%I OWNER TO %I', schemaname, sequencename, :'owner')
FROM pg_sequences WHERE schemaname = 'public' AND sequenceowner <> :'owner' \gexec
SELECT format('ALTER FUNCTION %s OWNER TO %I', p.oid::regprocedure, :'owner')
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> :'owner'
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') \gexec

-- The audit log: read, append and seal only. Migration 0010 does the same for every role
-- but the owner, so the order of running this file and `migrate` does not matter;
-- this repeats it for tables that already exist. (Revoking UPDATE on the table also
-- revokes it on every column, so the sealing columns are granted after.)
SELECT format('REVOKE UPDATE, DELETE, TRUNCATE, TRIGGER, REFERENCES ON %I FROM %I', t, :'app')
FROM unnest(ARRAY['chatrooms_auditlogentry']) t WHERE to_regclass(t) IS NOT NULL \gexec
SELECT format('GRANT UPDATE (sequence, prev_hash, entry_hash) ON %I TO %I', t, :'app')
FROM unnest(ARRAY['chatrooms_auditlogentry']) t WHERE to_regclass(t) IS NOT NULL \gexec
SELECT format('REVOKE DELETE, TRUNCATE, TRIGGER, REFERENCES ON %I FROM %I', t, :'app')
FROM unnest(ARRAY['chatrooms_auditchainhead']) t WHERE to_regclass(t) IS NOT NULL \gexec
-- Only `migrate`, as the owner, records applied migrations.
SELECT format('REVOKE INSERT, UPDATE, DELETE ON %I FROM %I', t, :'app')
FROM unnest(ARRAY['django_migrations']) t WHERE to_regclass(t) IS NOT NULL \gexec
