-- Fair, ordered delivery (docs/subscriptions.md, "Delivery"):
-- * the deliverer claims only the *head* of each subscription's queue (its oldest notification
--   not yet dead), found by a skip scan over this partial index: one probe per subscription
--   with a queue, whatever the number of rows queued behind a blocked head;
-- * a leased head is the per-subscription lease, hub-wide: nothing newer of that subscription
--   is claimed by any process until the head is settled or its lease has expired;
-- * the due-time index served the old "oldest due rows first" claim and is no longer read.
CREATE INDEX IF NOT EXISTS notifications_head ON {schema}.notifications (sub_id, seq)
    WHERE NOT dead;
DROP INDEX IF EXISTS {schema}.notifications_due;

-- Bounded queues: notifications dropped because the subscription's queue (queued + dead
-- letters) was over notification_queue_limit, oldest first; shown in its status.
ALTER TABLE {schema}.subscriptions ADD COLUMN IF NOT EXISTS times_dropped bigint NOT NULL DEFAULT 0;
ALTER TABLE {schema}.subscriptions ADD COLUMN IF NOT EXISTS last_dropped timestamptz;
