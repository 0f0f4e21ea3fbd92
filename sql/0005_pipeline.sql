-- Pipeline bookkeeping: a monotonic sequence on request rows (the selected-clips sensor's cursor),
-- and the outcome of the final exactness check that gates auto-apply.

ALTER TABLE clip_exports ADD COLUMN seq BIGSERIAL;
CREATE UNIQUE INDEX idx_clip_exports_seq ON clip_exports(seq);
CREATE INDEX idx_clip_exports_pending_seq ON clip_exports(seq) WHERE status = 'pending';

ALTER TABLE clip_ai_generations ADD COLUMN seq BIGSERIAL;
CREATE UNIQUE INDEX idx_clip_ai_generations_seq ON clip_ai_generations(seq);
CREATE INDEX idx_clip_ai_generations_pending_seq ON clip_ai_generations(seq) WHERE status = 'pending';

ALTER TABLE clip_ai_generations ADD COLUMN final_error_ms DOUBLE PRECISION;
