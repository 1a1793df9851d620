-- Fills the tables of schema.sql with made-up but plausible data for the seed indexes.
--
--   psql -v scale=100000 -f generate.sql        (scale defaults to 100000)
--
-- scale is the row count of the biggest tables; the others follow it:
--   activities, segment_efforts   scale          notifications, kudos   scale / 2
--   follows, comments             scale / 4      segment_stars          scale / 10
--   segments                      scale / 50     users (implied)        scale / 20
--
-- It empties those eight tables first (TRUNCATE ... RESTART IDENTITY) and loads everything in one
-- transaction. Re-runs give the same data: setseed() makes random() repeat and every timestamp is
-- relative to a fixed date, not now(). Distributions are skewed the way real ones are (a few
-- users post most activities, a few segments and athletes draw most efforts and followers), so
-- the indexes have realistic selectivity. Ends with ANALYZE and a row count per table.
--
-- Timing (PostgreSQL 15, 2 busy cores, no secondary indexes yet): scale=100000 in 2-3 s,
-- scale=1000000 in about 30 s. Loading is slower with the seed indexes already built (51 s for
-- scale=1000000), so generate the data first and let the operator build the indexes after.

\set ON_ERROR_STOP on
\if :{?scale}
\else
  \set scale 100000
\endif

SELECT :scale / 2 AS half, :scale / 4 AS quarter, :scale / 10 AS tenth,
       greatest(:scale / 50, 1) AS segments, greatest(:scale / 20, 10) AS users,
       '2025-06-01 00:00:00+00' AS epoch
\gset

BEGIN;

TRUNCATE activities, segments, segment_efforts, notifications, follows, kudos, comments,
         segment_stars RESTART IDENTITY;

SELECT setseed(0.42) \gset

\echo activities: :scale rows
WITH kinds (activity_type, pick_below, min_meters, max_meters, meters_per_second) AS (
    VALUES ('Run', 0.45, 3000, 21100, 2.9),
           ('Ride', 0.80, 10000, 120000, 7.5),
           ('Swim', 0.88, 500, 4000, 0.8),
           ('Walk', 0.96, 1000, 8000, 1.4),
           ('Hike', 1.00, 5000, 25000, 1.1)
), draws AS (
    SELECT random() AS pick, random() AS length, random() AS pace, random() AS pause,
           random() AS climb, random() AS heart, random() AS privacy, random() AS age,
           1 + floor(:users * power(random(), 2))::bigint AS user_id  -- a few users post most
    FROM generate_series(1, :scale)
), shaped AS (
    SELECT d.*, k.activity_type,
           k.min_meters + (k.max_meters - k.min_meters) * power(d.length, 2) AS distance,
           k.meters_per_second * (0.85 + 0.3 * d.pace) AS speed,
           :'epoch'::timestamptz - d.age * interval '730 days' AS started_at
    FROM draws AS d
    CROSS JOIN LATERAL (
        SELECT * FROM kinds WHERE kinds.pick_below > d.pick ORDER BY kinds.pick_below LIMIT 1
    ) AS k
)
INSERT INTO activities (user_id, activity_type, name, distance_meters, moving_time_seconds,
                        elapsed_time_seconds, elevation_gain_meters, average_heartrate,
                        visibility, started_at, submitted_at)
SELECT user_id,
       activity_type,
       CASE WHEN extract(hour FROM started_at) < 12 THEN 'Morning '
            WHEN extract(hour FROM started_at) < 18 THEN 'Afternoon '
            ELSE 'Evening ' END || activity_type,
       round(distance::numeric, 1),
       (distance / speed)::integer,
       (distance / speed * (1 + 0.25 * pause))::integer,
       round((distance * 0.015 * climb)::numeric, 1),
       CASE WHEN heart < 0.3 THEN NULL ELSE 110 + (heart * 60)::integer END,
       CASE WHEN privacy < 0.70 THEN 'public'
            WHEN privacy < 0.90 THEN 'followers'
            ELSE 'private' END,
       started_at,
       started_at + (distance / speed * 1.3) * interval '1 second' + pause * interval '2 hours'
FROM shaped;

\echo segments: :segments rows
INSERT INTO segments (activity_type, name, city, distance_meters, average_grade, elevation_low,
                      elevation_high, created_by, created_at)
SELECT activity_type,
       format('%s %s #%s', city, feature, i),
       city,
       round(distance::numeric, 1),
       round(grade::numeric, 1),
       round(low::numeric, 1),
       round((low + distance * grade / 100)::numeric, 1),
       1 + floor(random() * :users)::bigint,
       :'epoch'::timestamptz - random() * interval '1095 days'
FROM (
    SELECT i,
           CASE WHEN r < 0.45 THEN 'Run' WHEN r < 0.95 THEN 'Ride' ELSE 'Hike' END AS activity_type,
           (ARRAY['Boulder', 'Girona', 'Annecy', 'Bergen', 'Nelson', 'Oaxaca', 'Kyoto', 'Tromsø'])
               [1 + floor(random() * 8)::integer] AS city,
           (ARRAY['Climb', 'Sprint', 'Loop', 'Descent', 'Bridge', 'Lakeside', 'Switchbacks'])
               [1 + floor(random() * 7)::integer] AS feature,
           200 + 9800 * power(random(), 2) AS distance,
           -3 + 15 * random() AS grade,
           1000 * random() AS low
    FROM (SELECT i, random() AS r FROM generate_series(1, :segments) AS i) AS s
) AS shaped;

\echo segment_efforts: :scale rows
INSERT INTO segment_efforts (segment_id, activity_id, user_id, elapsed_time_seconds,
                             moving_time_seconds, average_watts, started_at, created_at)
SELECT segment_id,
       1 + floor(random() * :scale)::bigint,
       user_id,
       elapsed,
       greatest(1, (elapsed * (0.9 + 0.1 * random()))::integer),
       CASE WHEN random() < 0.5 THEN NULL ELSE 120 + (random() * 260)::integer END,
       started_at,
       started_at + random() * interval '6 hours'
FROM (
    SELECT segment_id, user_id, started_at,
           -- each segment has its own typical time; efforts scatter around it
           greatest(1, ((60 + (segment_id * 7919) % 1740) * (0.75 + 0.75 * random()))::integer)
               AS elapsed
    FROM (
        SELECT 1 + floor(:segments * power(random(), 3))::bigint AS segment_id,  -- popular ones
               1 + floor(:users * power(random(), 2))::bigint AS user_id,
               :'epoch'::timestamptz - random() * interval '730 days' AS started_at
        FROM generate_series(1, :scale)
    ) AS draws
) AS shaped;

\echo notifications: :half rows
INSERT INTO notifications (user_id, kind, actor_id, activity_id, read_at, created_at)
SELECT user_id, kind, actor_id,
       CASE WHEN kind = 'follow' THEN NULL ELSE 1 + floor(random() * :scale)::bigint END,
       CASE WHEN random() < 0.15 THEN NULL  -- unread
            ELSE created_at + power(random(), 3) * interval '3 days' END,
       created_at
FROM (
    SELECT 1 + floor(:users * power(random(), 2))::bigint AS user_id,
           CASE WHEN r < 0.55 THEN 'kudos' WHEN r < 0.75 THEN 'comment'
                WHEN r < 0.90 THEN 'follow' ELSE 'segment_pr' END AS kind,
           1 + floor(random() * :users)::bigint AS actor_id,
           -- recent-heavy: most notifications are from the last weeks
           :'epoch'::timestamptz - power(random(), 2) * interval '180 days' AS created_at
    FROM (SELECT random() AS r FROM generate_series(1, :half)) AS s
) AS draws;

-- The tables keyed by a pair draw 1.5 times the rows they need and keep the first distinct pairs.

\echo follows: :quarter rows
INSERT INTO follows (follower_id, following_id, created_at)
SELECT follower_id, following_id, :'epoch'::timestamptz - random() * interval '1095 days'
FROM (
    SELECT DISTINCT 1 + floor(random() * :users)::bigint AS follower_id,
           1 + floor(:users * power(random(), 3))::bigint AS following_id  -- a few stars
    FROM generate_series(1, :quarter * 3 / 2)
) AS pairs
WHERE follower_id <> following_id
LIMIT :quarter;

\echo kudos: :half rows
INSERT INTO kudos (activity_id, user_id, created_at)
SELECT activity_id, user_id, :'epoch'::timestamptz - random() * interval '730 days'
FROM (
    SELECT DISTINCT 1 + floor(:scale * power(random(), 2))::bigint AS activity_id,
           1 + floor(random() * :users)::bigint AS user_id
    FROM generate_series(1, :half * 3 / 2)
) AS pairs
LIMIT :half;

\echo comments: :quarter rows
INSERT INTO comments (activity_id, user_id, body, created_at, edited_at)
SELECT activity_id, user_id, body, created_at,
       CASE WHEN random() < 0.05 THEN created_at + random() * interval '1 hour' END
FROM (
    SELECT 1 + floor(:scale * power(random(), 2))::bigint AS activity_id,
           1 + floor(random() * :users)::bigint AS user_id,
           (ARRAY['Great pace!', 'That climb though.', 'Legend.', 'See you at the group ride?',
                  'New PR? Nice work.', 'How were the trails?', 'Rest day tomorrow, right?',
                  'Brutal headwind today.'])[1 + floor(random() * 8)::integer] AS body,
           :'epoch'::timestamptz - random() * interval '730 days' AS created_at
    FROM generate_series(1, :quarter)
) AS draws;

\echo segment_stars: :tenth rows
INSERT INTO segment_stars (user_id, segment_id, created_at)
SELECT user_id, segment_id, :'epoch'::timestamptz - random() * interval '1095 days'
FROM (
    SELECT DISTINCT 1 + floor(random() * :users)::bigint AS user_id,
           1 + floor(:segments * power(random(), 2))::bigint AS segment_id
    FROM generate_series(1, :tenth * 3 / 2)
) AS pairs
LIMIT :tenth;

COMMIT;

ANALYZE activities, segments, segment_efforts, notifications, follows, kudos, comments,
        segment_stars;

SELECT relname AS "table", n_live_tup AS "rows",
       pg_size_pretty(pg_table_size(relid)) AS "size"
FROM pg_stat_user_tables
WHERE relname IN ('activities', 'segments', 'segment_efforts', 'notifications', 'follows',
                  'kudos', 'comments', 'segment_stars')
ORDER BY n_live_tup DESC, relname;
