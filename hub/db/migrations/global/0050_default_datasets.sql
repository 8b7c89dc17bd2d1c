-- Each organisation's default dataset (docs/registry.md, "Default datasets"): an entity its
-- owner writes that no dataset rule covers lands there instead of being refused. It is a
-- dataset like the others (private, proprietary licence, no contract), flagged
-- owner_default: its rule matches nothing by id or type, the writer chooses it. One per
-- organisation; organisations registered before this migration get theirs here, later
-- ones with the organisation, in the same transaction (registry/service.py).
ALTER TABLE registry.datasets ADD COLUMN IF NOT EXISTS owner_default boolean NOT NULL DEFAULT false;
CREATE UNIQUE INDEX IF NOT EXISTS datasets_one_default ON registry.datasets (owner)
    WHERE owner_default;

INSERT INTO registry.datasets (id, owner, name, description, licence, update_frequency,
                               owner_default)
SELECT 'default-' || o.id, o.id,
       jsonb_build_object('ja', (o.name->>'ja') || 'の既定データセット',
                          'en', 'Default dataset of ' || coalesce(o.name->>'en', o.id)),
       jsonb_build_object('ja', 'どのデータセットの規則にも該当しないエンティティ（非公開）',
                          'en', 'Entities the organisation wrote that no dataset rule covers (private)'),
       'proprietary', 'irregular', true
FROM registry.organisations o
WHERE NOT EXISTS (SELECT 1 FROM registry.datasets d WHERE d.owner = o.id AND d.owner_default)
ON CONFLICT (id) DO NOTHING;
