"""What stripping metadata costs an upload (issue 15): whole-process runs of
``uploader upload`` with the default (metadata stripped) against ``--keep-metadata``, to the
lean target (benchmarks/target.py), interleaved; medians of CPU time (user + system) and
wall time, and their ratios.

Files, written here with Pillow: a 5 MB JPEG (noise, so that it is that large) with an EXIF
block holding GPS and an orientation, and a 300 KB PNG with text chunks; then, for memory,
a PNG of --large MB (a header, a tEXt chunk, one private chunk written in pieces) whose
stripped body is streamed from disk: the child's peak RSS (``wait4``) must stay under 40 MiB.

Run: python -m benchmarks.strip_cost [--runs 7] [--large 500]
"""

from __future__ import annotations

import argparse
import io
import os
import struct
import tempfile
import zlib
from pathlib import Path

from benchmarks.common import compile_package, hermetic_env, median, uploader_command
from benchmarks.large_upload import _config, run_child
from benchmarks.target import Target
from tests.support.images import write_sized_png


def _jpeg(path: Path, megabytes: float) -> Path:
    from PIL import Image

    side = int((megabytes * 1e6 / 1.15) ** 0.5)  # noise at quality 95: ~1.15 bytes per pixel
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "BenchCam"
    exif.get_ifd(0x8825)[2] = (52.0, 31.0, 12.0)
    image.save(path, "JPEG", exif=exif.tobytes(), quality=95)
    return path


def _png(path: Path, size: int) -> Path:
    from PIL import Image, PngImagePlugin

    side = int((size / 3) ** 0.5)
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", "screenshot tool on somehost")
    info.add_itxt("Comment", "user@somehost")
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info, compress_level=0)
    path.write_bytes(out.getvalue())
    return path


def _with_text(path: Path) -> Path:
    """A tEXt chunk put after the IHDR of the PNG at ``path``, in place (no whole read)."""
    text = b"Software\x00somehost"
    chunk = struct.pack(">I", len(text)) + b"tEXt" + text
    chunk += struct.pack(">I", zlib.crc32(b"tEXt" + text))
    moved = path.with_suffix(".tmp")
    with path.open("rb") as src, moved.open("wb") as dst:
        dst.write(src.read(33))  # signature + IHDR
        dst.write(chunk)
        while block := src.read(1 << 20):
            dst.write(block)
    moved.replace(path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--large", type=int, default=500, help="MB; 0 skips the memory case")
    args = parser.parse_args()
    cli = uploader_command()
    compile_package(cli)
    with tempfile.TemporaryDirectory() as tmp, Target() as target:
        root = Path(tmp)
        config = _config(root, target.url)
        # First, while this process is small: a child's peak RSS as wait4 reports it
        # includes what it shared with this process before it started the uploader.
        if args.large:
            big = _with_text(write_sized_png(root / "big.png", args.large * 1_000_000))
            env = hermetic_env(root / "env-large")
            command = [*cli, "--config", str(config), "upload", str(big)]
            rss, spent, _took = run_child(command, env)
            verdict = "met" if rss < 40 else "NOT met"
            print(
                f"{args.large} MB PNG with a tEXt chunk, stripped while streamed: peak RSS "
                f"{rss:.1f} MiB (target < 40: {verdict}), CPU {spent:.2f} s"
            )
        files = {
            "5 MB JPEG (EXIF, GPS)": _jpeg(root / "photo.jpg", 5),
            "300 KB PNG (text chunks)": _png(root / "shot.png", 300_000),
        }
        for label, path in files.items():
            cpu: dict[str, list[float]] = {"stripped": [], "--keep-metadata": []}
            wall: dict[str, list[float]] = {"stripped": [], "--keep-metadata": []}
            for n in range(args.runs):
                for mode in ("stripped", "--keep-metadata"):
                    extra = [] if mode == "stripped" else ["--keep-metadata"]
                    env = hermetic_env(root / f"env-{n}-{len(extra)}")
                    command = [*cli, "--config", str(config), "upload", *extra, str(path)]
                    _rss, spent, took = run_child(command, env)
                    cpu[mode].append(spent)
                    wall[mode].append(took)
            print(f"{label}, {path.stat().st_size / 1e6:.2f} MB, runs={args.runs}:")
            for mode, spent_cpu in cpu.items():
                print(
                    f"  {mode:<16} CPU median {median(spent_cpu) * 1000:6.1f} ms, "
                    f"wall median {median(wall[mode]) * 1000:6.1f} ms"
                )
            ratio = median(cpu["stripped"]) / median(cpu["--keep-metadata"])
            ratio_wall = median(wall["stripped"]) / median(wall["--keep-metadata"])
            print(f"  stripped / --keep-metadata: CPU {ratio:.3f}, wall {ratio_wall:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
