-- Timeline, version 4: applying AI results to the timeline (and undoing it), provider callbacks,
-- and detected shots.

ALTER TABLE clip_ai_generations
    -- the pipeline's final check of the result (exact duration, sync); apply needs TRUE
    ADD COLUMN final_check_passed    BOOLEAN,
    -- the last callback envelope a provider POSTed for this generation; the completion sensor reads it
    ADD COLUMN provider_callback     JSONB,
    ADD COLUMN provider_callback_at  TIMESTAMPTZ;

-- One row per applied generation: what apply changed, so that applying again is a no-op and undo can
-- put the timeline back.
CREATE TABLE clip_applications (
    generation_id          UUID PRIMARY KEY REFERENCES clip_ai_generations(id) ON DELETE CASCADE,
    mode                   TEXT NOT NULL CHECK (mode IN ('replace', 'overlay', 'append')),
    -- the clip replaced, overlaid or appended after
    target_clip_id         UUID REFERENCES clips(id) ON DELETE SET NULL,
    -- the clip that plays the result
    clip_id                UUID NOT NULL REFERENCES clips(id) ON DELETE CASCADE,
    -- replace: what the clip played before
    previous_asset_id      UUID REFERENCES assets(id) ON DELETE RESTRICT,
    previous_source_start  INTEGER,
    previous_source_end    INTEGER,
    -- overlay: the overlay track apply created (removed again by undo when empty)
    created_track_id       UUID REFERENCES tracks(id) ON DELETE SET NULL,
    -- append: how far later clips on the track moved right
    ripple_ms              INTEGER NOT NULL DEFAULT 0 CHECK (ripple_ms >= 0),
    created_at             TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT clip_applications_replace_keeps_previous CHECK (
        mode <> 'replace'
        OR (previous_asset_id IS NOT NULL AND previous_source_start IS NOT NULL
            AND previous_source_end IS NOT NULL)
    )
);

CREATE INDEX idx_clip_applications_clip ON clip_applications(clip_id);

-- Shots PySceneDetect found in an asset (ms from the asset's start).
CREATE TABLE shot_segments (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    asset_id    UUID NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
    start_ms    INTEGER NOT NULL CHECK (start_ms >= 0),
    end_ms      INTEGER NOT NULL,
    -- the detector's score of the cut that starts the shot (NULL for the first shot)
    score       DOUBLE PRECISION,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT shot_segments_range CHECK (end_ms > start_ms),
    UNIQUE (asset_id, start_ms)
);
