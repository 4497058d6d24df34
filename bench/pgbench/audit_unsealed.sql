-- pgbench: one audit row per transaction, as the app writes it since sealing is
-- asynchronous: one INSERT, no lock; the insert trigger sets created_at and xid, and the
-- entry waits unsealed for the sealer (run it alongside, or count it separately).
-- pgbench -n -f bench/pgbench/audit_unsealed.sql -T 5 -c 16 -j 2 <database migrated at 0010>
BEGIN;
INSERT INTO chatrooms_auditlogentry (created_at, action, source, actor_kind, actor_id, actor_name,
    target_type, target_id, reason, before, after, hash_version)
VALUES (now(), 'room_update', 'api', 'system', '', '', '', '', '', NULL, NULL, 1);
COMMIT;
