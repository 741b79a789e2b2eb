-- Indexes on messaging_webhookevent that every ingest INSERT maintains but no ingest or
-- processing query needs (pattern-ops copies, FK indexes covered by webhookevent_tp_created).
DROP INDEX messaging_webhookevent_event_id_fa8e1943_like;
DROP INDEX messaging_webhookevent_named_waba_id_e61c4aa9_like;
DROP INDEX messaging_webhookevent_named_waba_id_e61c4aa9;
DROP INDEX messaging_webhookevent_tech_provider_id_7126d5d1;
DROP INDEX messaging_webhookevent_waba_id_ac3d649b;
DROP INDEX messaging_webhookevent_created_at_55e968f9;
