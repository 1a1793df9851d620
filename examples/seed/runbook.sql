-- Copied verbatim from the ```sql block under "Performance Indexes" in the project's
-- production-deployment-guide.md (the runbook this operator replaces). Do not edit the
-- statements below: tests/test_importing.py checks they import to examples/seed/indexes.yaml.

-- Connect to production database and run each index separately
-- These can be run while the application is serving traffic

-- Activities: User's activities by type and date
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_activities_user_type_date
  ON activities(user_id, activity_type, submitted_at DESC);

-- Segment efforts: Leaderboard queries
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_efforts_segment_time
  ON segment_efforts(segment_id, elapsed_time_seconds ASC);

-- Segment efforts: User's efforts on a segment (PR tracking)
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_efforts_user_segment
  ON segment_efforts(user_id, segment_id, elapsed_time_seconds ASC);

-- Notifications: Unread notifications for a user
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_notifications_user_unread
  ON notifications(user_id, read_at) WHERE read_at IS NULL;

-- Notifications: User's notifications by time
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_notifications_user_time
  ON notifications(user_id, created_at DESC);

-- Feed: Recent activities for feed
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_activities_feed
  ON activities(submitted_at DESC) WHERE visibility = 'public';

-- Follows: Lookup of who follows whom
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_follows_follower
  ON follows(follower_id, created_at DESC);

CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_follows_following
  ON follows(following_id, created_at DESC);

-- Kudos: Count and lookup for activities
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_kudos_activity
  ON kudos(activity_id, created_at DESC);

-- Comments: Activity comments by time
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_comments_activity
  ON comments(activity_id, created_at ASC);

-- Segments: Nearby segment lookup by activity type
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_segments_type
  ON segments(activity_type, created_at DESC);

-- Segment stars: User's starred segments
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_segment_stars_user
  ON segment_stars(user_id, created_at DESC);
