-- Pipeline bookkeeping: a monotonic sequence on request rows (the selected-clips sensor's cursor),
-- and the outcome of the final exactness check that gates auto-apply.

ALTER TABLE clip_exports ADD COLUMN seq BIGSERIAL;
CREATE UNIQUE INDEX idx_clip_exports_seq ON clip_exports(seq);
CREATE INDEX idx_clip_exports_pending_seq ON clip_exports(seq) WHERE status = 'pending';

ALTER TABLE clip_ai_generations ADD COLUMN seq BIGSERIAL;
CREATE UNIQUE INDEX idx_clip_ai_generations_seq ON clip_ai_generations(seq);
CREATE INDEX idx_clip_ai_generations_pending_seq ON clip_ai_generations(seq) WHERE status = 'pending';

-- the final video's measured duration (ms, container) and its largest error against the clip
ALTER TABLE clip_ai_generations ADD COLUMN final_duration_ms DOUBLE PRECISION;
ALTER TABLE clip_ai_generations ADD COLUMN final_error_ms DOUBLE PRECISION;

-- Deleting a clip that plays an applied result un-applies the generation (instead of the foreign
-- key's SET NULL running into clip_ai_generations_applied_has_clip).
CREATE OR REPLACE FUNCTION unapply_generations_of_deleted_clip() RETURNS trigger AS $$
BEGIN
    UPDATE clip_ai_generations SET applied = FALSE, applied_clip_id = NULL WHERE applied_clip_id = OLD.id;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER clips_unapply_on_delete BEFORE DELETE ON clips
    FOR EACH ROW EXECUTE FUNCTION unapply_generations_of_deleted_clip();
