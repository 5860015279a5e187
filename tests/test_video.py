"""Video files: colorize .mp4 → .mp4 (count, size, rate and audio kept; streamed; bad files named), temporal
smoothing and the flicker measure, next-frame training on a video and predict from one."""

import json
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from PIL import Image

from pix2gan.cli import main
from pix2gan.colorizer import Colorizer, TemporalSmoother
from pix2gan.data.video import iter_frames, probe, read_frames, write_frames
from pix2gan.metrics import ab_change, flicker_ratio

from helpers import TINY


def panning_frames(n: int, w: int = 64, h: int = 48, step: int = 2) -> np.ndarray:
    """``n`` RGB uint8 frames of a window moving ``step`` px per frame across a smooth colour pattern."""
    y, x = np.mgrid[0:h, 0:w + n * step]
    scene = np.stack([128 + 100 * np.sin(x / 9), 128 + 100 * np.cos(y / 7), 128 + 90 * np.sin((x + y) / 13)], -1)
    return np.stack([scene[:, t * step:t * step + w] for t in range(n)]).clip(0, 255).astype(np.uint8)


def make_video(path, frames: np.ndarray, fps: int = 15, codec: str = "mpeg4", audio: bool = False) -> None:
    """Encode ``frames`` (T, H, W, 3) into ``path``; with ``audio``, a 440 Hz tone (AAC) the length of the clip."""
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=fps)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        s.codec_context.qmin = s.codec_context.qmax = 2  # fine quantiser: near-lossless
        a = c.add_stream("aac", rate=16000) if audio else None
        if a is not None:
            a.layout = "mono"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
        if a is not None:
            t = np.arange(int(16000 * len(frames) / fps)) / 16000
            tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for k in range(0, len(tone) - 1023, 1024):
                af = av.AudioFrame.from_ndarray(tone[None, k:k + 1024], format="fltp", layout="mono")
                af.sample_rate, af.pts = 16000, k
                for p in a.encode(af):
                    c.mux(p)
            for p in a.encode():
                c.mux(p)


def audio_packets(path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


def test_colorize_video_keeps_frames_size_rate_and_audio(tmp_path):
    clip = tmp_path / "film.mp4"
    frames = panning_frames(12, w=66, h=50)
    make_video(clip, frames.mean(-1, keepdims=True).repeat(3, -1).astype(np.uint8), fps=15, audio=True)
    before = clip.read_bytes()
    assert main(["colorize", str(clip), str(tmp_path / "out.mp4"), "--quiet"]) == 0
    got, want = probe(tmp_path / "out.mp4"), probe(clip)
    assert (got.frames, got.width, got.height, got.fps, got.has_audio) == (12, 66, 50, Fraction(15), True)
    assert want.frames == 12
    assert audio_packets(tmp_path / "out.mp4") == audio_packets(clip)  # copied, not re-encoded
    out = np.stack(list(iter_frames(tmp_path / "out.mp4")))
    assert out.shape == (12, 50, 66, 3) and np.abs(out[..., 0].astype(int) - out[..., 2]).mean() > 1  # colour
    assert clip.read_bytes() == before
    # never overwritten: a second run skips; odd sizes are kept (4:4:4 chroma)
    assert main(["colorize", str(clip), str(tmp_path / "out.mp4"), "--quiet"]) == 0
    make_video(tmp_path / "odd.mp4", frames[:5, :47, :65])
    assert main(["colorize", str(tmp_path / "odd.mp4"), str(tmp_path / "odd_out.mkv"), "--quiet",
                 "--temporal-smoothing", "0", "--crf", "30"]) == 0
    got = probe(tmp_path / "odd_out.mkv")
    assert (got.frames, got.width, got.height) == (5, 65, 47)


def test_audio_the_output_container_cannot_hold_is_one_line(tmp_path, capsys):
    make_video(tmp_path / "a.mp4", panning_frames(4), audio=True)
    assert main(["colorize", str(tmp_path / "a.mp4"), str(tmp_path / "a.webm"), "--quiet"]) == 1
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert lines == [lines[0]] and "a.mp4: its aac audio cannot go into a .webm file" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4"]  # nothing half-written


def test_a_folder_with_videos_images_and_bad_files_goes_on(tmp_path, capsys):
    src = tmp_path / "in"
    (src / "reel").mkdir(parents=True)
    frames = panning_frames(6)
    make_video(src / "reel" / "a.mp4", frames)
    make_video(tmp_path / "whole.mp4", frames)
    data = (tmp_path / "whole.mp4").read_bytes()
    (src / "truncated.mp4").write_bytes(data[:len(data) // 3])
    (src / "notes.mov").write_text("not a video")
    Image.fromarray(frames[0]).save(src / "still.png")
    assert main(["colorize", str(src), str(tmp_path / "out"), "--quiet"]) == 1
    err = capsys.readouterr()
    lines = [ln for ln in err.err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 2 and any("truncated.mp4" in ln for ln in lines) and any("notes.mov" in ln for ln in lines)
    assert "colorized 2, skipped 0" in err.out and "failed 2" in err.out
    assert probe(tmp_path / "out" / "reel" / "a.mp4").frames == 6 and (tmp_path / "out" / "still.png").exists()
    assert sorted(p.name for p in (tmp_path / "out").rglob("*")) == ["a.mp4", "reel", "still.png"]  # nothing partial


@pytest.mark.parametrize("codec", ["mpeg4", "libx264"])
def test_read_frames_returns_the_same_frames_as_decoding_everything(tmp_path, codec):
    clip = tmp_path / "c.mp4"
    make_video(clip, panning_frames(40), codec=codec)
    every = np.stack(list(iter_frames(clip)))
    assert len(every) == 40 == probe(clip).frames
    for start, count in ((0, 3), (17, 5), (35, 5), (39, 1)):
        assert np.array_equal(read_frames(clip, start, count), every[start:start + count])
    with pytest.raises(Exception, match="fewer than 42 frames"):
        read_frames(clip, 38, 4)


def test_write_frames_round_trip(tmp_path):
    frames = panning_frames(8)
    assert write_frames(tmp_path / "w.mp4", iter(frames), Fraction(30000, 1001), crf=0) == 8
    info = probe(tmp_path / "w.mp4")
    assert (info.frames, info.fps) == (8, Fraction(30000, 1001))
    back = np.stack(list(iter_frames(tmp_path / "w.mp4")))
    assert np.abs(back.astype(int) - frames).mean() < 3  # lossless H.264 of yuv420p: only the chroma subsampling


def test_flicker_measure_and_temporal_smoothing():
    # ab_change by hand: a frame of Lab (50, 0, 0) then one of (50, 20, -10) changes |Δa| + |Δb| = 30
    import kornia

    lab = torch.tensor([[50.0, 0, 0], [50.0, 20, -10]]).view(2, 3, 1, 1).expand(2, 3, 4, 4)
    rgb = kornia.color.lab_to_rgb(lab)
    assert ab_change(rgb[:1], rgb[1:]).item() == pytest.approx(30, abs=0.2)
    assert flicker_ratio([2.0, 4.0], [1.0, 2.0]) == 2.0  # means 3 over 1.5
    # a flickering prediction: the smoothed one changes less from frame to frame; a scene cut restarts it
    g = torch.Generator().manual_seed(0)
    light = torch.zeros(1, 1, 8, 8)
    preds = [torch.rand(1, 2, 8, 8, generator=g) * 0.4 - 0.2 for _ in range(20)]
    smoother = TemporalSmoother(0.6)
    smoothed = [smoother(light, ab).clone() for ab in preds]
    change = lambda seq: np.mean([(b - a).abs().mean().item() for a, b in zip(seq, seq[1:])])  # noqa: E731
    assert change(smoothed) < 0.5 * change(preds) and smoother.cuts == 0
    assert torch.equal(smoothed[0], preds[0])
    new_shot = torch.ones(1, 1, 8, 8)  # every pixel moves to another L bin: a cut
    after = smoother(new_shot, preds[0])
    assert smoother.cuts == 1 and torch.equal(after, preds[0])
    with pytest.raises(Exception, match="--temporal-smoothing must be in"):
        TemporalSmoother(1.0)


def test_smoothing_lowers_flicker_of_a_colorized_video(tmp_path):
    clip = tmp_path / "pan.mp4"
    frames = panning_frames(10)
    make_video(clip, frames)
    colorizer = Colorizer.default(device="cpu")
    changes = {}
    for amount in (0.0, 0.7):
        out = tmp_path / f"out{amount}.mkv"
        colorizer.colorize_video(clip, out, smoothing=amount, crf=0, progress=False)
        o = torch.from_numpy(np.stack(list(iter_frames(out)))).permute(0, 3, 1, 2).float() / 255
        changes[amount] = ab_change(o[:-1], o[1:]).mean().item()
    assert changes[0.7] < changes[0.0]


def test_nextframe_trains_on_a_video_and_predicts_from_one(tmp_path, capsys):
    clip = tmp_path / "clip.mp4"
    make_video(clip, panning_frames(30, w=40, h=32), fps=20)
    run = tmp_path / "run"
    assert main(["train", "--task", "nextframe", "--data", str(clip), "--out", str(run), "--steps", "3",
                 "--context", "2", "--frame-step", "2", "--workers", "0", *TINY]) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["frame_step"] == 2
    out = tmp_path / "pred"
    assert main(["predict", str(clip), str(out), "--checkpoint", str(run / "checkpoint.pt"), "--steps", "3"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["pred_001.png", "pred_002.png", "pred_003.png",
                                                     "rollout.gif", "rollout.mp4"]
    info = probe(out / "rollout.mp4")
    assert (info.frames, info.fps, info.width, info.height) == (2 + 3, Fraction(10), 40, 32)  # 20 fps / step 2
    assert "rollout.mp4 (10 fps)" in capsys.readouterr().out
    assert main(["predict", str(clip), str(tmp_path / "p2"), "--checkpoint", str(run / "checkpoint.pt"),
                 "--start", "3", "--steps", "1"]) == 0
    assert main(["predict", str(clip), str(tmp_path / "p3"), "--checkpoint", str(run / "checkpoint.pt"),
                 "--start", "14"]) == 2  # 15 frames at step 2: the context of 2 starts at 13 at most
    assert "--start 14 is out of range" in capsys.readouterr().err


def test_a_bad_video_is_named(tmp_path, capsys):
    (tmp_path / "bad.mp4").write_bytes(b"\x00" * 100)
    assert main(["train", "--task", "nextframe", "--data", str(tmp_path / "bad.mp4"), "--out",
                 str(tmp_path / "run"), "--steps", "1", *TINY]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.mp4: not a readable video" in err[0]
    # in a folder of videos a bad one is named and left out; the others train
    folder = tmp_path / "videos"
    folder.mkdir()
    (tmp_path / "bad.mp4").rename(folder / "bad.mp4")
    make_video(folder / "good.mp4", panning_frames(8, w=32, h=32))
    assert main(["train", "--task", "nextframe", "--data", str(folder), "--out", str(tmp_path / "run2"),
                 "--steps", "1", "--context", "2", "--workers", "0", *TINY]) == 0
    assert "bad.mp4: not a readable video" in capsys.readouterr().err
