"""How long the local generators and a simulator round trip take (prints numbers; not a test).

    python bench/providers.py [--size 640x360] [--seconds 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from clip_pipeline.media.ffmpeg import run_ffmpeg
from clip_pipeline.providers.base import GenerationInput
from clip_pipeline.providers.kling import KlingProvider
from clip_pipeline.providers.local_render import RenderSpec, render_task
from clip_pipeline.settings import Settings
from clip_pipeline.simulators.core import RunningServer
from clip_pipeline.simulators.kling import KlingSimulator


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--seconds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        clip = work / "clip.mp4"
        run_ffmpeg(["-f", "lavfi", "-i", f"testsrc2=s={args.size}:r=30:d={args.seconds}", "-f", "lavfi",
                    "-i", f"sine=f=440:d={args.seconds}", "-c:v", "libx264", "-preset", "ultrafast",
                    "-c:a", "aac", "-shortest", "-y", str(clip)], timeout_s=120)
        spec = RenderSpec.for_seconds(args.seconds, size=args.size, fps=24)
        for task_type in ("background_replace", "scene_generate", "lip_sync"):
            started = time.perf_counter()
            render_task(task_type, work / f"{task_type}.mp4", spec, prompt="a beach at dusk", video=clip, audio=clip)
            elapsed = time.perf_counter() - started
            print(f"local {task_type:18s} {args.size} {args.seconds} s: {elapsed:6.2f} s "
                  f"({args.seconds / elapsed:5.1f}x real time)")
        settings = Settings(home=work / "home", kling_access_key="bench-access", kling_secret_key="b" * 32,
                            local_provider_size=args.size)
        simulator = KlingSimulator(settings, work / "sim", size=args.size, min_task_s=0)
        server = RunningServer(simulator.app)
        kling = KlingProvider(settings.model_copy(update={"kling_base_url": server.base_url}))
        started = time.perf_counter()
        task_id = kling.submit(GenerationInput(generation_id="bench", task_type="scene_generate",
                                               model="kling-v2-1-master", prompt="bench", duration_ms=4000))
        while not (state := kling.get(task_id)).finished:
            time.sleep(0.05)
        kling.download(state.output_urls[0], work / "kling.mp4")
        print(f"kling simulator text2video '5' create->poll->download: {time.perf_counter() - started:6.2f} s")
        server.stop()
        simulator.core.shutdown()


if __name__ == "__main__":
    main()
