-- Storage faults (seed section 9): an upload that still fails after retries leaves the file in a
-- local cache; the row says so (upload_pending + where the cached files are) until a later run
-- uploads it. Written with IF NOT EXISTS so that re-running it by hand changes nothing.

ALTER TABLE clip_exports
    ADD COLUMN IF NOT EXISTS upload_pending     BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN IF NOT EXISTS cached_video_path  TEXT,
    ADD COLUMN IF NOT EXISTS cached_audio_path  TEXT;

ALTER TABLE clip_ai_generations
    ADD COLUMN IF NOT EXISTS upload_pending     BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN IF NOT EXISTS cached_final_path  TEXT;

-- The retry job only ever looks for the few pending rows.
CREATE INDEX IF NOT EXISTS idx_clip_exports_upload_pending
    ON clip_exports (id) WHERE upload_pending;
CREATE INDEX IF NOT EXISTS idx_clip_ai_generations_upload_pending
    ON clip_ai_generations (id) WHERE upload_pending;
-- The expiry job looks for ready exports by expiry time.
CREATE INDEX IF NOT EXISTS idx_clip_exports_ready_expires_at
    ON clip_exports (expires_at) WHERE status = 'ready';
