-- Demo schema for the seed: the eight tables that runbook.sql indexes, modelled on the fitness
-- app the runbook comes from (activities, segment leaderboards, a social feed).
--
-- Only primary keys, on purpose: the secondary indexes are what the operator builds from
-- indexes.yaml. No foreign keys either, so that generate.sql can fill each table on its own and
-- fast; user ids point at an implied users table that the demo does not need.
--
-- Idempotent: psql -f schema.sql leaves existing tables (and their data) alone.

CREATE TABLE IF NOT EXISTS activities (
    id                    bigserial PRIMARY KEY,
    user_id               bigint NOT NULL,
    activity_type         text NOT NULL,
    name                  text NOT NULL,
    description           text,
    distance_meters       numeric(10, 1) NOT NULL,
    moving_time_seconds   integer NOT NULL,
    elapsed_time_seconds  integer NOT NULL,
    elevation_gain_meters numeric(7, 1) NOT NULL DEFAULT 0,
    average_heartrate     smallint,
    visibility            text NOT NULL DEFAULT 'public'
                          CHECK (visibility IN ('public', 'followers', 'private')),
    started_at            timestamptz NOT NULL,
    submitted_at          timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz
);

CREATE TABLE IF NOT EXISTS segments (
    id               bigserial PRIMARY KEY,
    activity_type    text NOT NULL,
    name             text NOT NULL,
    city             text,
    distance_meters  numeric(9, 1) NOT NULL,
    average_grade    numeric(4, 1) NOT NULL,
    elevation_low    numeric(6, 1),
    elevation_high   numeric(6, 1),
    created_by       bigint NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS segment_efforts (
    id                    bigserial PRIMARY KEY,
    segment_id            bigint NOT NULL,
    activity_id           bigint NOT NULL,
    user_id               bigint NOT NULL,
    elapsed_time_seconds  integer NOT NULL CHECK (elapsed_time_seconds > 0),
    moving_time_seconds   integer NOT NULL,
    average_watts         smallint,
    started_at            timestamptz NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS notifications (
    id           bigserial PRIMARY KEY,
    user_id      bigint NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('kudos', 'comment', 'follow', 'segment_pr')),
    actor_id     bigint,
    activity_id  bigint,
    read_at      timestamptz,  -- NULL while unread: idx_notifications_user_unread is partial on it
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS follows (
    follower_id   bigint NOT NULL,
    following_id  bigint NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (follower_id, following_id),
    CHECK (follower_id <> following_id)
);

CREATE TABLE IF NOT EXISTS kudos (
    activity_id  bigint NOT NULL,
    user_id      bigint NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (activity_id, user_id)
);

CREATE TABLE IF NOT EXISTS comments (
    id           bigserial PRIMARY KEY,
    activity_id  bigint NOT NULL,
    user_id      bigint NOT NULL,
    body         text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    edited_at    timestamptz
);

CREATE TABLE IF NOT EXISTS segment_stars (
    user_id     bigint NOT NULL,
    segment_id  bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, segment_id)
);
