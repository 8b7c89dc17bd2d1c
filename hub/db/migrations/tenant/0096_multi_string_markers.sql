-- Marker rows for attributes with several strings (docs/architecture.md, "The walk starts
-- at q's bound"). 0094 marked entities holding two or more distinct numbers for an
-- attribute; hub/query/values.py `index_rows` now marks two or more distinct strings too,
-- and an attribute with a `vocab` member and a string row (vocab compares q's strings
-- expanded, while a walk's string bound is the literal as written), so that an ordered
-- walk along the strings of an unmarked attribute may start at q's bound. This writes
-- the markers of entities stored before, from their own index rows (deduplicated per
-- entity, so two string rows are two distinct strings as the index cuts them) and
-- attributes, and resets those entities' index fingerprints, so their next write
-- rebuilds the rows from values.py itself. Running it again adds nothing.
WITH strings AS (
    SELECT v.eid, v.attr, count(*) AS n
    FROM {schema}.entity_values v
    WHERE v.txt IS NOT NULL
    GROUP BY v.eid, v.attr
), marked AS (
    SELECT s.eid, s.attr
    FROM strings s JOIN {schema}.entities e ON e.pk = s.eid
    WHERE (s.n >= 2 OR jsonb_path_exists(e.attrs -> s.attr, '$[*] ? (exists(@."vocab"))'))
      AND NOT EXISTS (
        SELECT FROM {schema}.entity_values m
        WHERE m.attr = s.attr AND m.eid = s.eid AND m.num IS NULL AND m.txt IS NULL)
), added AS (
    INSERT INTO {schema}.entity_values (eid, attr, num, txt)
    SELECT eid, attr, NULL, NULL FROM marked
    RETURNING eid
)
UPDATE {schema}.entities e SET index_fp = NULL
WHERE e.pk IN (SELECT eid FROM added);
