-- Hosted and fetched @contexts get an owner: the organisation that hosted a context, or
-- whose request first fetched a remote one (counted against its quota, context_quota).
-- Rows from before have none: in enforcing mode nobody but an SQL operator deletes them.
ALTER TABLE renkei.contexts ADD COLUMN IF NOT EXISTS owner text;
CREATE INDEX IF NOT EXISTS contexts_owner ON renkei.contexts (owner) WHERE owner IS NOT NULL;

-- Every hub process keeps @context documents in memory. A replaced or deleted document
-- notifies channel renkei_contexts (payload: its URL, or '' = forget everything when the
-- URL is too long for a NOTIFY payload) on commit, as renkei_registry does for the dataset
-- rules, so no process keeps serving a copy its owner withdrew. Usage counters
-- (uses, last_used) change no document and notify nothing.
CREATE OR REPLACE FUNCTION renkei.context_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('renkei_contexts',
                      CASE WHEN octet_length(OLD.url) < 7000 THEN OLD.url ELSE '' END);
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS contexts_changed ON renkei.contexts;
CREATE TRIGGER contexts_changed AFTER UPDATE OF body, url OR DELETE ON renkei.contexts
    FOR EACH ROW EXECUTE FUNCTION renkei.context_changed();
