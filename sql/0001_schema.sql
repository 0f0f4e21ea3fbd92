-- clip_pipeline schema, version 1: the timeline (assets, timelines, tracks, clips) and the two
-- request tables of the seed (sections 3.1 and 3.2). Requests are rows: a pending clip_exports row
-- is a selected clip, a pending clip_ai_generations row an asked-for AI enhancement.
-- gen_random_uuid() is built into PostgreSQL 13+, so no extension is needed.

CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TABLE assets (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name          TEXT,
    kind          TEXT NOT NULL DEFAULT 'video' CHECK (kind IN ('video', 'audio', 'image')),
    -- cloudflare:<uid>, supabase:<bucket>/<path>, an http(s) URL, a storage key or a local path
    storage_path  TEXT NOT NULL CHECK (length(storage_path) > 0),
    duration_ms   INTEGER CHECK (duration_ms IS NULL OR duration_ms > 0),
    width         INTEGER CHECK (width IS NULL OR width > 0),
    height        INTEGER CHECK (height IS NULL OR height > 0),
    fps           DOUBLE PRECISION CHECK (fps IS NULL OR fps > 0),
    has_audio     BOOLEAN,
    file_size     BIGINT CHECK (file_size IS NULL OR file_size >= 0),
    metadata      JSONB NOT NULL DEFAULT '{}'::jsonb,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE timelines (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name        TEXT NOT NULL CHECK (length(name) > 0),
    fps         DOUBLE PRECISION CHECK (fps IS NULL OR fps > 0),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE tracks (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    timeline_id  UUID NOT NULL REFERENCES timelines(id) ON DELETE CASCADE,
    name         TEXT,
    kind         TEXT NOT NULL DEFAULT 'video' CHECK (kind IN ('video', 'audio', 'overlay')),
    -- stacking order: a higher position plays above a lower one
    position     INTEGER NOT NULL CHECK (position >= 0),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (timeline_id, position)
);

CREATE TABLE clips (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    track_id      UUID NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    asset_id      UUID NOT NULL REFERENCES assets(id) ON DELETE RESTRICT,
    name          TEXT,
    -- where the clip sits on the timeline (ms)
    start_time    INTEGER NOT NULL,
    end_time      INTEGER NOT NULL,
    -- which range of the asset it plays (ms)
    source_start  INTEGER NOT NULL,
    source_end    INTEGER NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT clips_source_range CHECK (source_start >= 0 AND source_end > source_start),
    CONSTRAINT clips_timeline_range CHECK (start_time >= 0 AND end_time > start_time),
    -- clips play at normal speed: the timeline span is the source span
    CONSTRAINT clips_span_matches_source CHECK (end_time - start_time = source_end - source_start)
);

CREATE INDEX idx_clips_track_start ON clips(track_id, start_time);
CREATE INDEX idx_clips_asset ON clips(asset_id);

CREATE TABLE clip_exports (
    id                  UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    clip_id             UUID NOT NULL REFERENCES clips(id) ON DELETE CASCADE,

    format              TEXT NOT NULL DEFAULT 'mp4' CHECK (format IN ('mp4', 'webm')),
    resolution          TEXT NOT NULL DEFAULT '1080p' CHECK (resolution IN ('original', '720p', '1080p')),
    quality             TEXT NOT NULL DEFAULT 'medium' CHECK (quality IN ('low', 'medium', 'high')),
    with_audio          BOOLEAN NOT NULL DEFAULT TRUE,

    source_start        INTEGER NOT NULL,
    source_end          INTEGER NOT NULL,

    storage_path        TEXT,
    public_url          TEXT,
    audio_storage_path  TEXT,
    audio_url           TEXT,

    -- exact duration of the exported clip (ms); known once the export is done
    duration_ms         INTEGER CHECK (duration_ms IS NULL OR duration_ms > 0),
    file_size           BIGINT CHECK (file_size IS NULL OR file_size >= 0),
    width               INTEGER,
    height              INTEGER,
    fps                 DOUBLE PRECISION,
    has_audio           BOOLEAN,
    encoder             TEXT,
    exactness_error_ms  DOUBLE PRECISION,
    bytes_fetched       BIGINT,
    elapsed_ms          INTEGER,

    fingerprint         TEXT NOT NULL CHECK (length(fingerprint) > 0),
    expires_at          TIMESTAMPTZ,

    status              TEXT NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'processing', 'ready', 'error', 'expired')),
    error_message       TEXT,
    attempts            INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- a row in processing whose lease has passed is taken to be abandoned and is retried
    leased_until        TIMESTAMPTZ,

    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),

    CONSTRAINT clip_exports_source_range CHECK (source_start >= 0 AND source_end > source_start),
    CONSTRAINT clip_exports_ready_has_result
        CHECK (status <> 'ready' OR (storage_path IS NOT NULL AND duration_ms IS NOT NULL)),
    CONSTRAINT clip_exports_error_has_message
        CHECK (status <> 'error' OR error_message IS NOT NULL)
);

CREATE INDEX idx_clip_exports_clip_id ON clip_exports(clip_id);
CREATE UNIQUE INDEX idx_clip_exports_fingerprint ON clip_exports(fingerprint);
CREATE INDEX idx_clip_exports_status ON clip_exports(status);

CREATE TABLE clip_ai_generations (
    id                    UUID PRIMARY KEY DEFAULT gen_random_uuid(),

    source_clip_id        UUID NOT NULL REFERENCES clips(id) ON DELETE CASCADE,
    clip_export_id        UUID REFERENCES clip_exports(id) ON DELETE SET NULL,

    provider              TEXT NOT NULL CHECK (provider IN ('kling', 'veo', 'runway', 'local')),
    model                 TEXT NOT NULL CHECK (length(model) > 0),
    task_type             TEXT NOT NULL
                          CHECK (task_type IN ('background_replace', 'scene_generate', 'lip_sync')),
    task_id               TEXT,

    prompt                TEXT,
    parameters            JSONB NOT NULL DEFAULT '{}'::jsonb,
    auto_apply            BOOLEAN NOT NULL DEFAULT FALSE,

    -- duration contract (ms): expected = the clip's duration
    expected_duration_ms  INTEGER NOT NULL CHECK (expected_duration_ms > 0),
    provider_duration_ms  INTEGER CHECK (provider_duration_ms IS NULL OR provider_duration_ms > 0),
    actual_duration_ms    INTEGER CHECK (actual_duration_ms IS NULL OR actual_duration_ms > 0),
    duration_adjusted     BOOLEAN NOT NULL DEFAULT FALSE,
    adjustment            TEXT CHECK (adjustment IS NULL OR adjustment IN ('none', 'trim', 'freeze')),

    status                TEXT NOT NULL DEFAULT 'pending'
                          CHECK (status IN ('pending', 'processing', 'merging', 'completed', 'failed')),
    progress              INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    error_message         TEXT,

    ai_result_url         TEXT,
    final_storage_path    TEXT,
    final_url             TEXT,
    result_asset_id       UUID REFERENCES assets(id) ON DELETE SET NULL,

    applied               BOOLEAN NOT NULL DEFAULT FALSE,
    applied_clip_id       UUID REFERENCES clips(id) ON DELETE SET NULL,

    credits_used          INTEGER NOT NULL DEFAULT 0 CHECK (credits_used >= 0),
    processing_time_ms    INTEGER CHECK (processing_time_ms IS NULL OR processing_time_ms >= 0),

    -- idempotent submission: set before the provider call, cleared when task_id is saved
    submit_intent_at      TIMESTAMPTZ,
    submitted_at          TIMESTAMPTZ,
    completed_at          TIMESTAMPTZ,
    last_polled_at        TIMESTAMPTZ,
    attempts              INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    leased_until          TIMESTAMPTZ,
    -- unguessable token of the provider callback URL, bound to this generation
    callback_token        TEXT UNIQUE,

    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now(),

    CONSTRAINT clip_ai_generations_completed_has_result
        CHECK (status <> 'completed' OR final_storage_path IS NOT NULL),
    CONSTRAINT clip_ai_generations_failed_has_message
        CHECK (status <> 'failed' OR error_message IS NOT NULL),
    CONSTRAINT clip_ai_generations_applied_has_clip
        CHECK (NOT applied OR applied_clip_id IS NOT NULL)
);

CREATE INDEX idx_clip_ai_generations_source ON clip_ai_generations(source_clip_id);
CREATE INDEX idx_clip_ai_generations_status ON clip_ai_generations(status);
CREATE INDEX idx_clip_ai_generations_provider ON clip_ai_generations(provider);
CREATE UNIQUE INDEX idx_clip_ai_generations_task
    ON clip_ai_generations(provider, task_id) WHERE task_id IS NOT NULL;

CREATE TRIGGER assets_updated_at BEFORE UPDATE ON assets
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER timelines_updated_at BEFORE UPDATE ON timelines
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER tracks_updated_at BEFORE UPDATE ON tracks
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER clips_updated_at BEFORE UPDATE ON clips
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER clip_exports_updated_at BEFORE UPDATE ON clip_exports
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER clip_ai_generations_updated_at BEFORE UPDATE ON clip_ai_generations
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
