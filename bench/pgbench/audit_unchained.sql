-- pgbench: one audit row per transaction, as before the hash chain (main before 0010).
-- pgbench -n -f bench/pgbench/audit_unchained.sql -T 5 -c 16 -j 2 <database migrated by main, without 0010>
BEGIN;
INSERT INTO chatrooms_auditlogentry (created_at, action, source, actor_kind, actor_id, actor_name,
    target_type, target_id, reason, before, after)
VALUES (now(), 'room_update', 'api', 'system', '', '', '', '', '', NULL, NULL);
COMMIT;
