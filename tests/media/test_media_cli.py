"""The `clip-pipeline media` commands: JSON result as the last stdout line, one-line errors."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli
from tests.media.conftest import CFR_SPECS
from tests.support.media import check_exact_clip


@pytest.fixture
def env(tmp_path, monkeypatch):
    for key in [k for k in __import__("os").environ if k.startswith("CLIP_PIPELINE_")]:
        monkeypatch.delenv(key)
    return {"CLIP_PIPELINE_HOME": str(tmp_path / "home")}


def test_export_fit_and_probe_commands(media, tmp_path, env):
    source = media.source(CFR_SPECS[0])
    exported = run_cli("media", "export", str(source), "--start-ms", "1234", "--end-ms", "2789",
                       "--out", str(tmp_path / "clip"), "--with-audio", env=env)
    assert exported.returncode == 0, exported.stderr
    clip = exported.json
    assert {"video_path", "audio_path", "duration_ms", "width", "height", "fps", "has_audio", "file_size",
            "elapsed_ms"} <= clip.keys()
    assert (clip["duration_ms"], clip["width"], clip["height"], clip["has_audio"]) == (1555, 320, 180, True)
    check_exact_clip(tmp_path / "clip" / "clip_1234_2789.mp4", source, 1234, 2789,
                     audio_file=tmp_path / "clip" / "clip_1234_2789.m4a")

    fitted = run_cli("media", "fit", clip["video_path"], "--audio", clip["audio_path"], "--duration-ms", "1700",
                     "--out", str(tmp_path / "final.mp4"), env=env)
    assert fitted.returncode == 0, fitted.stderr
    assert fitted.json == fitted.json | {"output_path": str(tmp_path / "final.mp4"), "duration_ms": 1700,
                                         "adjustment": "freeze"}
    assert fitted.json["source_duration_ms"] == pytest.approx(1555, abs=1)

    probed = run_cli("media", "probe", str(tmp_path / "final.mp4"), env=env)
    assert probed.returncode == 0, probed.stderr
    assert probed.json["duration_ms"] == pytest.approx(1700, abs=1)
    assert [s["type"] for s in probed.json["streams"]] == ["video", "audio"]
    assert probed.json["streams"][1]["sample_rate"] == 48000


@pytest.mark.parametrize(("args", "message"), [
    (["export", "SOURCE", "--start-ms", "500", "--end-ms", "400", "--out", "OUT"], "must be after start"),
    (["export", "supabase:clips/a.mp4", "--start-ms", "0", "--end-ms", "400", "--out", "OUT"],
     "supabase: sources need the storage layer"),
    (["fit", "SOURCE", "--duration-ms", "5000", "--strategy", "trim", "--out", "OUT/x.mp4"], "needs 'freeze'"),
])
def test_errors_are_one_line_on_stderr(media, tmp_path, env, args, message):
    source = str(media.source(CFR_SPECS[0]))
    args = [a.replace("SOURCE", source).replace("OUT", str(tmp_path / "out")) for a in args]
    result = run_cli("media", *args, env=env)
    assert result.returncode != 0
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
