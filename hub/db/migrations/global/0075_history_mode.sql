-- Which changes of a dataset's entities become history (issue #16): 'observed' records the
-- attribute instances carrying observedAt, 'every' every change of an attribute (its
-- modifiedAt is then the instant). hub/store/entities.py records it in the write statement.
ALTER TABLE registry.datasets ADD COLUMN IF NOT EXISTS history_mode text NOT NULL
    DEFAULT 'observed' CHECK (history_mode IN ('observed', 'every'));
