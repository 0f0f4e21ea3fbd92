-- Metrics for analysts: views over the tables the pipeline fills, the indexes that keep them fast at
-- 1,000,000 generations, a cache-hit counter on clip_exports, and the snapshot table the
-- `generation_metrics` asset writes. Every view and column is documented with COMMENT ON (psql: \d+).
--
-- "day" everywhere is the UTC calendar date of the row's created_at (the day the request was made),
-- whatever the server's or the session's TimeZone.

-- Cache hits ------------------------------------------------------------------------------------

ALTER TABLE clip_exports ADD COLUMN cache_hits INTEGER NOT NULL DEFAULT 0 CHECK (cache_hits >= 0);
COMMENT ON COLUMN clip_exports.cache_hits IS
    'Times this export was asked for again (same fingerprint: a clip selected again, or a generation '
    'request needing it) while it was ready, and reused without cutting anew. Counted by '
    'services/requests.py ensure_export_request (INSERT ... ON CONFLICT DO UPDATE).';

-- Indexes ---------------------------------------------------------------------------------------

-- Covers generation_metrics_daily (and generation_outcomes filtered by day): an index-only scan
-- already in (day, provider, model, task_type) order, so grouping needs no sort of the whole table.
CREATE INDEX idx_clip_ai_generations_daily_metrics ON clip_ai_generations (
    ((created_at AT TIME ZONE 'UTC')::date), provider, model, task_type
) INCLUDE (created_at, status, processing_time_ms, duration_adjusted, adjustment,
           provider_duration_ms, expected_duration_ms, credits_used);
-- clip_funnel needs no index of its own: it reads generations grouped by clip through
-- idx_clip_ai_generations_source (0001), and exports through idx_clip_exports_clip_id.

-- generation_outcomes ---------------------------------------------------------------------------

CREATE VIEW generation_outcomes AS
SELECT
    g.id AS generation_id,
    (g.created_at AT TIME ZONE 'UTC')::date AS day,
    g.created_at,
    g.provider,
    g.model,
    g.task_type,
    g.status,
    g.processing_time_ms,
    g.expected_duration_ms,
    g.provider_duration_ms,
    abs(g.provider_duration_ms - g.expected_duration_ms) AS duration_miss_ms,
    g.provider_duration_ms - g.expected_duration_ms AS duration_signed_miss_ms,
    (g.duration_adjusted OR coalesce(g.adjustment, 'none') <> 'none') AS needed_adjustment,
    g.credits_used
FROM clip_ai_generations g;

COMMENT ON VIEW generation_outcomes IS
    'One row per AI generation request with its outcome and duration miss; the raw material of '
    'generation_metrics_daily (filter on day to use the index).';
COMMENT ON COLUMN generation_outcomes.generation_id IS 'clip_ai_generations.id';
COMMENT ON COLUMN generation_outcomes.day IS 'UTC date of created_at (the day it was requested)';
COMMENT ON COLUMN generation_outcomes.created_at IS 'When the generation was requested';
COMMENT ON COLUMN generation_outcomes.provider IS 'kling, veo, runway or local';
COMMENT ON COLUMN generation_outcomes.model IS 'Provider model name';
COMMENT ON COLUMN generation_outcomes.task_type IS 'background_replace, scene_generate or lip_sync';
COMMENT ON COLUMN generation_outcomes.status IS 'pending, processing, merging, completed or failed';
COMMENT ON COLUMN generation_outcomes.processing_time_ms IS
    'Milliseconds from request to final result, as recorded by the pipeline; NULL if not recorded';
COMMENT ON COLUMN generation_outcomes.expected_duration_ms IS 'Duration the result must have (the clip''s)';
COMMENT ON COLUMN generation_outcomes.provider_duration_ms IS
    'Duration of the video the provider returned; NULL until (or unless) it returned one';
COMMENT ON COLUMN generation_outcomes.duration_miss_ms IS
    '|provider_duration_ms - expected_duration_ms|; NULL when provider_duration_ms is NULL';
COMMENT ON COLUMN generation_outcomes.duration_signed_miss_ms IS
    'provider_duration_ms - expected_duration_ms (negative: the provider video was too short)';
COMMENT ON COLUMN generation_outcomes.needed_adjustment IS
    'The final had to be trimmed or frozen to the exact duration (duration_adjusted, or adjustment '
    'other than none)';
COMMENT ON COLUMN generation_outcomes.credits_used IS 'Provider credits charged for this generation';

-- generation_metrics_daily ----------------------------------------------------------------------

CREATE VIEW generation_metrics_daily AS
WITH per_day AS (
    SELECT
        day, provider, model, task_type,
        count(*) AS requested,
        count(*) FILTER (WHERE status = 'completed') AS completed,
        count(*) FILTER (WHERE status = 'failed') AS failed,
        percentile_cont(0.5) WITHIN GROUP (ORDER BY processing_time_ms)
            FILTER (WHERE status = 'completed') AS p50_processing_time_ms,
        percentile_cont(0.95) WITHIN GROUP (ORDER BY processing_time_ms)
            FILTER (WHERE status = 'completed') AS p95_processing_time_ms,
        count(*) FILTER (WHERE status = 'completed' AND needed_adjustment) AS adjusted,
        count(duration_miss_ms) AS duration_measured,
        avg(duration_miss_ms)::double precision AS mean_duration_miss_ms,
        max(duration_miss_ms) AS max_duration_miss_ms,
        sum(credits_used) AS credits_used
    FROM generation_outcomes
    GROUP BY day, provider, model, task_type
),
calendar AS (
    SELECT bounds.first_day + offset_days AS day
    FROM (SELECT min(day) AS first_day, max(day) AS last_day FROM per_day) bounds,
         generate_series(0, bounds.last_day - bounds.first_day) AS offset_days
),
series AS (
    SELECT DISTINCT provider, model, task_type FROM per_day
)
SELECT
    c.day,
    s.provider,
    s.model,
    s.task_type,
    coalesce(p.requested, 0)::integer AS requested,
    coalesce(p.completed, 0)::integer AS completed,
    coalesce(p.failed, 0)::integer AS failed,
    (coalesce(p.requested, 0) - coalesce(p.completed, 0) - coalesce(p.failed, 0))::integer AS in_progress,
    p.completed::double precision / nullif(p.completed + p.failed, 0) AS success_rate,
    p.p50_processing_time_ms,
    p.p95_processing_time_ms,
    coalesce(p.adjusted, 0)::integer AS adjusted,
    p.adjusted::double precision / nullif(p.completed, 0) AS adjusted_share,
    coalesce(p.duration_measured, 0)::integer AS duration_measured,
    p.mean_duration_miss_ms,
    p.max_duration_miss_ms,
    coalesce(p.credits_used, 0)::bigint AS credits_used
FROM calendar c
CROSS JOIN series s
LEFT JOIN per_day p
    -- One record-valued key: with four separate equalities the planner merge-joins on three and
    -- filters on the fourth, which takes seconds over a year of days.
    ON (p.day, p.provider, p.model, p.task_type)::record = (c.day, s.provider, s.model, s.task_type)::record;

COMMENT ON VIEW generation_metrics_daily IS
    'Per UTC day (of created_at), provider, model and task type: how AI generations fared. Every day '
    'from the first to the last day with any generation appears for every provider/model/task type '
    'seen, with zero counts and NULL rates on days without requests (filter requested > 0 to skip them).';
COMMENT ON COLUMN generation_metrics_daily.day IS 'UTC date of created_at (the day of the request)';
COMMENT ON COLUMN generation_metrics_daily.provider IS 'kling, veo, runway or local';
COMMENT ON COLUMN generation_metrics_daily.model IS 'Provider model name';
COMMENT ON COLUMN generation_metrics_daily.task_type IS 'background_replace, scene_generate or lip_sync';
COMMENT ON COLUMN generation_metrics_daily.requested IS 'Generations requested that day (all statuses)';
COMMENT ON COLUMN generation_metrics_daily.completed IS 'Of those, status completed (a final exists)';
COMMENT ON COLUMN generation_metrics_daily.failed IS 'Of those, status failed';
COMMENT ON COLUMN generation_metrics_daily.in_progress IS
    'Of those, still pending, processing or merging (requested - completed - failed)';
COMMENT ON COLUMN generation_metrics_daily.success_rate IS
    'completed / (completed + failed), 0..1; unfinished requests do not count; NULL when none finished';
COMMENT ON COLUMN generation_metrics_daily.p50_processing_time_ms IS
    'Median processing_time_ms of completed generations (interpolated; rows without a time are '
    'ignored); NULL when there are none';
COMMENT ON COLUMN generation_metrics_daily.p95_processing_time_ms IS
    '95th percentile processing_time_ms of completed generations (interpolated, like '
    'p50_processing_time_ms)';
COMMENT ON COLUMN generation_metrics_daily.adjusted IS
    'Completed generations whose final was trimmed or frozen to the exact duration';
COMMENT ON COLUMN generation_metrics_daily.adjusted_share IS
    'adjusted / completed, 0..1; NULL when none completed';
COMMENT ON COLUMN generation_metrics_daily.duration_measured IS
    'Generations (any status) whose provider video duration is known (provider_duration_ms not NULL)';
COMMENT ON COLUMN generation_metrics_daily.mean_duration_miss_ms IS
    'Mean |provider_duration_ms - expected_duration_ms| over duration_measured rows; NULL when none';
COMMENT ON COLUMN generation_metrics_daily.max_duration_miss_ms IS
    'Largest |provider_duration_ms - expected_duration_ms| over duration_measured rows; NULL when none';
COMMENT ON COLUMN generation_metrics_daily.credits_used IS
    'Provider credits charged for the day''s generations (failed ones included)';

-- export_metrics_daily --------------------------------------------------------------------------

CREATE VIEW export_metrics_daily AS
WITH per_day AS (
    SELECT
        (created_at AT TIME ZONE 'UTC')::date AS day,
        count(*) AS exports,
        count(*) FILTER (WHERE status IN ('ready', 'expired')) AS exported,
        count(*) FILTER (WHERE status = 'error') AS failed,
        sum(cache_hits) AS cache_hits,
        percentile_cont(0.5) WITHIN GROUP (
            ORDER BY elapsed_ms / ((source_end - source_start) / 1000.0)
        ) AS p50_export_ms_per_clip_second,
        percentile_cont(0.95) WITHIN GROUP (
            ORDER BY elapsed_ms / ((source_end - source_start) / 1000.0)
        ) AS p95_export_ms_per_clip_second,
        sum(file_size) FILTER (WHERE status = 'ready') AS bytes_stored,
        count(*) FILTER (WHERE expires_at <= now()) AS expired,
        count(*) FILTER (WHERE status = 'expired') AS deleted
    FROM clip_exports
    GROUP BY 1
),
calendar AS (
    SELECT bounds.first_day + offset_days AS day
    FROM (SELECT min(day) AS first_day, max(day) AS last_day FROM per_day) bounds,
         generate_series(0, bounds.last_day - bounds.first_day) AS offset_days
)
SELECT
    c.day,
    coalesce(p.exports, 0)::integer AS exports,
    coalesce(p.exported, 0)::integer AS exported,
    coalesce(p.failed, 0)::integer AS failed,
    coalesce(p.cache_hits, 0)::integer AS cache_hits,
    p.cache_hits::double precision / nullif(p.exports + p.cache_hits, 0) AS cache_hit_rate,
    p.p50_export_ms_per_clip_second::double precision AS p50_export_ms_per_clip_second,
    p.p95_export_ms_per_clip_second::double precision AS p95_export_ms_per_clip_second,
    coalesce(p.bytes_stored, 0)::bigint AS bytes_stored,
    coalesce(p.expired, 0)::integer AS expired,
    coalesce(p.deleted, 0)::integer AS deleted
FROM calendar c
LEFT JOIN per_day p ON p.day = c.day;

COMMENT ON VIEW export_metrics_daily IS
    'Per UTC day (of created_at): clip exports, how often they were reused, how fast they were cut, '
    'and what they keep in storage. Every day from the first to the last export appears (zeros on '
    'days without exports). One clip_exports row is one distinct export (one fingerprint).';
COMMENT ON COLUMN export_metrics_daily.day IS 'UTC date of created_at (the day the export was first asked for)';
COMMENT ON COLUMN export_metrics_daily.exports IS 'Export rows created that day (distinct fingerprints: real cutting work)';
COMMENT ON COLUMN export_metrics_daily.exported IS 'Of those, cut and stored (status ready, or expired since)';
COMMENT ON COLUMN export_metrics_daily.failed IS 'Of those, status error';
COMMENT ON COLUMN export_metrics_daily.cache_hits IS
    'Requests for an export whose fingerprint was already ready, answered without cutting again '
    '(sum of clip_exports.cache_hits; counted on the day the reused export was created, not the day '
    'of the reuse)';
COMMENT ON COLUMN export_metrics_daily.cache_hit_rate IS
    'cache_hits / (exports + cache_hits): share of export requests served from cache; NULL on empty days';
COMMENT ON COLUMN export_metrics_daily.p50_export_ms_per_clip_second IS
    'Median of elapsed_ms / clip seconds ((source_end - source_start) / 1000) over exports with '
    'elapsed_ms recorded; NULL when none';
COMMENT ON COLUMN export_metrics_daily.p95_export_ms_per_clip_second IS
    '95th percentile of elapsed_ms per clip second (as p50_export_ms_per_clip_second)';
COMMENT ON COLUMN export_metrics_daily.bytes_stored IS
    'Bytes these exports occupy in storage now (sum of file_size of status ready rows)';
COMMENT ON COLUMN export_metrics_daily.expired IS
    'Exports whose URL lifetime has passed as of query time (expires_at <= now()), removed or not';
COMMENT ON COLUMN export_metrics_daily.deleted IS
    'Exports the expiry cleanup removed from storage (status expired)';

-- clip_funnel -----------------------------------------------------------------------------------

CREATE VIEW clip_funnel AS
WITH export_steps AS (
    SELECT clip_id, bool_or(status IN ('ready', 'expired')) AS exported
    FROM clip_exports
    GROUP BY clip_id
),
generation_steps AS (
    SELECT
        source_clip_id AS clip_id,
        bool_or(ai_result_url IS NOT NULL OR status IN ('merging', 'completed')) AS generated,
        bool_or(status = 'completed') AS final,
        bool_or(applied) AS applied
    FROM clip_ai_generations
    GROUP BY source_clip_id
),
clip_steps AS (
    -- a step counts only when every earlier step was reached too, so counts never grow down the funnel
    SELECT
        coalesce(e.clip_id, g.clip_id) AS clip_id,
        coalesce(e.exported, false) AS exported,
        coalesce(e.exported AND g.generated, false) AS generated,
        coalesce(e.exported AND g.generated AND g.final, false) AS final,
        coalesce(e.exported AND g.generated AND g.final AND g.applied, false) AS applied
    FROM export_steps e
    FULL JOIN generation_steps g ON g.clip_id = e.clip_id
),
per_timeline AS (
    SELECT
        t.timeline_id,
        count(*) AS selected,
        count(*) FILTER (WHERE s.exported) AS exported,
        count(*) FILTER (WHERE s.generated) AS generated,
        count(*) FILTER (WHERE s.final) AS final,
        count(*) FILTER (WHERE s.applied) AS applied
    FROM clip_steps s
    JOIN clips c ON c.id = s.clip_id
    JOIN tracks t ON t.id = c.track_id
    GROUP BY t.timeline_id
),
scopes AS (
    SELECT
        'timeline'::text AS scope, tl.id AS timeline_id, tl.name AS timeline_name,
        coalesce(p.selected, 0) AS selected, coalesce(p.exported, 0) AS exported,
        coalesce(p.generated, 0) AS generated, coalesce(p.final, 0) AS final,
        coalesce(p.applied, 0) AS applied
    FROM timelines tl
    LEFT JOIN per_timeline p ON p.timeline_id = tl.id
    UNION ALL
    SELECT
        'overall', NULL, NULL,
        coalesce(sum(selected), 0), coalesce(sum(exported), 0), coalesce(sum(generated), 0),
        coalesce(sum(final), 0), coalesce(sum(applied), 0)
    FROM per_timeline
)
SELECT
    sc.scope,
    sc.timeline_id,
    sc.timeline_name,
    st.step_number,
    st.step,
    st.clips::integer AS clips,
    st.previous_clips::integer AS previous_step_clips,
    (st.previous_clips - st.clips)::integer AS dropped,
    (st.previous_clips - st.clips)::double precision / nullif(st.previous_clips, 0) AS drop_off_rate,
    st.clips::double precision / nullif(sc.selected, 0) AS conversion_rate
FROM scopes sc
CROSS JOIN LATERAL (
    VALUES
        (1, 'selected', sc.selected, NULL::bigint),
        (2, 'exported', sc.exported, sc.selected),
        (3, 'generated', sc.generated, sc.exported),
        (4, 'final', sc.final, sc.generated),
        (5, 'applied', sc.applied, sc.final)
) AS st (step_number, step, clips, previous_clips);

COMMENT ON VIEW clip_funnel IS
    'How far selected clips get, per timeline and overall: selected -> exported -> generated -> '
    'final -> applied. Counts are distinct clips; a clip counts at a step only if it also reached '
    'every earlier step. Five rows per timeline (all timelines, zeros where nothing was selected) '
    'and five with scope overall.';
COMMENT ON COLUMN clip_funnel.scope IS 'timeline (one timeline) or overall (all timelines together)';
COMMENT ON COLUMN clip_funnel.timeline_id IS 'The timeline; NULL for scope overall';
COMMENT ON COLUMN clip_funnel.timeline_name IS 'The timeline''s name; NULL for scope overall';
COMMENT ON COLUMN clip_funnel.step_number IS '1 selected, 2 exported, 3 generated, 4 final, 5 applied';
COMMENT ON COLUMN clip_funnel.step IS
    'selected: the clip has an export or a generation request; exported: an export of it is (or was) '
    'ready; generated: a provider returned a video for it (ai_result_url set, or merging/completed); '
    'final: a generation of it completed (exact-duration final stored); applied: a result of it was '
    'applied to the timeline';
COMMENT ON COLUMN clip_funnel.clips IS 'Distinct clips that reached this step (and every earlier one)';
COMMENT ON COLUMN clip_funnel.previous_step_clips IS 'clips of the previous step; NULL for selected';
COMMENT ON COLUMN clip_funnel.dropped IS
    'previous_step_clips - clips: clips that stopped before this step (so far); NULL for selected';
COMMENT ON COLUMN clip_funnel.drop_off_rate IS
    'dropped / previous_step_clips, 0..1; NULL for selected or when the previous step has no clips';
COMMENT ON COLUMN clip_funnel.conversion_rate IS
    'clips / selected clips of the same scope, 0..1; NULL when nothing was selected';

-- Snapshots written by the generation_metrics asset ---------------------------------------------

CREATE TABLE generation_metrics_snapshots (
    snapshot_date           DATE NOT NULL,
    taken_at                TIMESTAMPTZ NOT NULL,
    day                     DATE NOT NULL,
    provider                TEXT NOT NULL,
    model                   TEXT NOT NULL,
    task_type               TEXT NOT NULL,
    requested               INTEGER NOT NULL,
    completed               INTEGER NOT NULL,
    failed                  INTEGER NOT NULL,
    in_progress             INTEGER NOT NULL,
    success_rate            DOUBLE PRECISION,
    p50_processing_time_ms  DOUBLE PRECISION,
    p95_processing_time_ms  DOUBLE PRECISION,
    adjusted                INTEGER NOT NULL,
    adjusted_share          DOUBLE PRECISION,
    duration_measured       INTEGER NOT NULL,
    mean_duration_miss_ms   DOUBLE PRECISION,
    max_duration_miss_ms    INTEGER,
    credits_used            BIGINT NOT NULL,
    PRIMARY KEY (snapshot_date, day, provider, model, task_type)
);

COMMENT ON TABLE generation_metrics_snapshots IS
    'generation_metrics_daily as the generation_metrics asset saw it, over its lookback window of '
    'days: one snapshot per UTC date (a re-run that date replaces it). Compare snapshots to see how '
    'late completions changed a day''s numbers. Columns after task_type mean what they mean in '
    'generation_metrics_daily.';
COMMENT ON COLUMN generation_metrics_snapshots.snapshot_date IS 'UTC date of taken_at (one snapshot per date)';
COMMENT ON COLUMN generation_metrics_snapshots.taken_at IS 'When the asset took this snapshot';
COMMENT ON COLUMN generation_metrics_snapshots.day IS 'generation_metrics_daily.day';
