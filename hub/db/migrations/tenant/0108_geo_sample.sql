-- One geo row in 64 (by entity pk), in a GiST index of its own: the sample from which a
-- geo-query judges whether its box holds more entities than the candidate bound before
-- reading them (hub/store/entities.py `geo_gate`, `GEO_SAMPLE`; the predicate must stay
-- the same expression for the planner to use this index). Reading 4,000 rows of the full
-- index to find a dense box too large took 1.7 of the 2.6 ms of PostgreSQL a page cost
-- at 200,000 entities; the sample's ~125 rows take ~0.1 ms. One index entry per 64 geo
-- rows written.
CREATE INDEX IF NOT EXISTS entity_geo_sample ON {schema}.entity_geo
    USING gist (bbox) INCLUDE (attr) WHERE eid % 64 = 0;
