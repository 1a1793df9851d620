-- p1 at production-like sizes (issue #15): after examples/seed/generate.sql at :scale rows,
-- segment_efforts grows to :efforts_factor x :scale rows and notifications (scale / 2 rows as
-- generated) to :notifications_factor x scale / 2 rows, so that activities ~1M, segment_efforts
-- ~5M, notifications ~3M at scale 1,000,000 (the sizes of ../shared/POSTGRES.md's measurement).
-- Copies keep each table's skew (the same segments, users and timing shapes) and shift their
-- timestamps and times a little, so that the copies are not exact duplicates.
\set ON_ERROR_STOP on

BEGIN;
INSERT INTO segment_efforts (segment_id, activity_id, user_id, elapsed_time_seconds,
                             moving_time_seconds, average_watts, started_at, created_at)
SELECT segment_id, activity_id, user_id, elapsed_time_seconds + k, moving_time_seconds + k,
       average_watts, started_at - k * interval '1 day', created_at - k * interval '1 day'
FROM segment_efforts, generate_series(1, :efforts_factor - 1) AS k;

INSERT INTO notifications (user_id, kind, actor_id, activity_id, read_at, created_at)
SELECT user_id, kind, actor_id, activity_id, read_at - k * interval '1 hour',
       created_at - k * interval '1 hour'
FROM notifications, generate_series(1, :notifications_factor - 1) AS k;
COMMIT;
