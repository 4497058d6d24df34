-- pgbench: every client updates the same row (autocommit), the database's hot-row ceiling.
-- bench/run.py creates the table: bench_pg_hot (id int primary key, n bigint), one row id 1
UPDATE bench_pg_hot SET n = n + 1 WHERE id = 1;
