"""Session-wide synthetic sources for the media tests (built once, small and ultrafast)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from tests.support.media import SourceSpec, make_edit_list_mp4, make_hls, make_hls_alternate_audio, make_source

CFR_SPECS = [
    SourceSpec("cfr23976", fps=Fraction(24000, 1001), sample_rate=48000, channels=2),
    SourceSpec("cfr24", fps=Fraction(24), sample_rate=44100, channels=1),
    SourceSpec("cfr25", fps=Fraction(25), sample_rate=48000, channels=1, bframes=2),
    SourceSpec("cfr2997", fps=Fraction(30000, 1001), sample_rate=44100, channels=2, bframes=3),
    SourceSpec("cfr30", fps=Fraction(30), sample_rate=None),
    SourceSpec("cfr50", fps=Fraction(50), sample_rate=48000, channels=2, gop=50),
    SourceSpec("cfr5994", fps=Fraction(60000, 1001), sample_rate=44100, channels=1, gop=60),
]
OTHER_SPECS = {
    "vfr": SourceSpec("vfr", fps=Fraction(30), vfr=True, sample_rate=48000),
    "bframes": SourceSpec("bframes", fps=Fraction(30), bframes=3, sample_rate=48000, duration_s=6.0),
    # GOP = segment = 2 s: a seek inside a TS segment would restart at the next keyframe
    "hls_base": SourceSpec("hls_base", fps=Fraction(25), sample_rate=44100, channels=2, gop=50, duration_s=8.0),
}


class MediaLibrary:
    """Builds each source the first time a test asks for it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._built: dict[str, Path] = {}

    def _once(self, name: str, build) -> Path:
        if name not in self._built:
            self._built[name] = build()
        return self._built[name]

    def source(self, spec: SourceSpec) -> Path:
        return self._once(spec.name, lambda: make_source(self.root / f"{spec.name}.mp4", spec))

    def named(self, name: str) -> Path:
        return self.source(OTHER_SPECS[name])

    def edit_list(self) -> Path:
        return self._once("edit_list", lambda: make_edit_list_mp4(self.named("bframes"), self.root / "edit_list.mp4"))

    def hls(self, kind: str) -> Path:
        """A folder with an HLS rendition of hls_base: 'ts' (1.4 s start), 'ts10' (10 s start,
        behind a master playlist), 'fmp4' or 'alternate_audio' (audio as its own rendition)."""
        if kind == "alternate_audio":
            return self._once("hls_alt", lambda: make_hls_alternate_audio(self.named("hls_base"), self.root / "hls_alt"))
        settings = {
            "ts": dict(segment_type="mpegts"),
            "ts10": dict(segment_type="mpegts", ts_offset_s=10.0, master=True),
            "fmp4": dict(segment_type="fmp4"),
        }[kind]
        return self._once(f"hls_{kind}", lambda: make_hls(self.named("hls_base"), self.root / f"hls_{kind}",
                                                          segment_s=2.0, **settings))


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> MediaLibrary:
    return MediaLibrary(tmp_path_factory.mktemp("media-sources"))
