-- pgbench: one chained audit row per transaction, the statements the app sends: lock the
-- chain head (reading now()), insert the entry (the trigger checks the link and moves the
-- head), commit. The hash is a random stand-in: the database does not check it.
-- pgbench -n -f bench/pgbench/audit_chained.sql -T 5 -c 16 -j 2 <database migrated at 0008>
BEGIN;
SELECT sequence, entry_hash, now() FROM chatrooms_auditchainhead WHERE id = 1 FOR UPDATE;
INSERT INTO chatrooms_auditlogentry (created_at, action, source, actor_kind, actor_id, actor_name,
    target_type, target_id, reason, sequence, prev_hash, entry_hash, hash_version)
SELECT now(), 'room_update', 'api', 'system', '', '', '', '', '', sequence + 1, entry_hash,
    md5(random()::text) || md5(random()::text), 1
FROM chatrooms_auditchainhead WHERE id = 1;
COMMIT;
