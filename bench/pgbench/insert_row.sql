-- pgbench: one single-row INSERT per transaction (autocommit), the database's insert ceiling.
-- bench/run.py creates the table: bench_pg_insert (id bigserial, room uuid, body text, at timestamptz)
INSERT INTO bench_pg_insert (room, body, at) VALUES ('01c178b8-ac23-47a3-8340-a175389907e0', 'bench message', now());
