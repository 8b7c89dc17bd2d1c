-- Marker rows for attributes with several numbers (docs/architecture.md, "Query plans").
-- q=a>=X;a<Y holds when some number of a is at least X and some, possibly another, is
-- below Y, so the q compiler's range driver (num BETWEEN X AND Y) adds every entity whose
-- a has two or more distinct numeric index rows; hub/query/values.py `index_rows` marks
-- those with the row (attr, NULL, NULL) that 0092 introduced (found through its partial
-- index entity_values_marker). This writes the markers of entities stored before, from
-- their own index rows (which exist only for indexed attributes, so nothing needs
-- excluding), and resets those entities' index fingerprints, so their next write rebuilds
-- the rows from values.py itself. Running it again adds nothing.
WITH marked AS (
    SELECT v.eid, v.attr
    FROM {schema}.entity_values v
    WHERE v.num IS NOT NULL
    GROUP BY v.eid, v.attr
    HAVING count(DISTINCT v.num) >= 2
       AND NOT EXISTS (
        SELECT FROM {schema}.entity_values m
        WHERE m.attr = v.attr AND m.eid = v.eid AND m.num IS NULL AND m.txt IS NULL)
), added AS (
    INSERT INTO {schema}.entity_values (eid, attr, num, txt)
    SELECT eid, attr, NULL, NULL FROM marked
    RETURNING eid
)
UPDATE {schema}.entities e SET index_fp = NULL
WHERE e.pk IN (SELECT eid FROM added);
