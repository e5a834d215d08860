"""Build hyco's image training corpus from photographs shipped in Debian packages.

No public training set can be downloaded where hyco is developed, so the corpus is made from
what Debian ships (see ../shared/DATA.md): the photographs among the KDE Plasma, Lomiri and
MATE wallpapers and the OpenCV sample images, a few illustrations for variety, and sparse
frames of the OpenCV sample videos. Kodak is never used.

Every photograph is stored at several scales: downscaling (Lanczos) removes the JPEG
artefacts of the originals and gives the model content at several scales of detail. The
short side of each copy is at least MIN_SIDE.

    python recipes/build_corpus.py --out cache/corpus [--debs cache/debs]
    # -> cache/corpus (training) and cache/corpus_val (3 held-out photos)

Needs `apt-get download` (with `apt-get update` done once) unless --debs already holds the
packages, and `ffmpeg` on PATH for the video frames (skipped with a note otherwise).
Package versions used are written to OUT/SOURCES.txt.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

from PIL import Image

PACKAGES = ["plasma-workspace-wallpapers", "opencv-doc", "lomiri-wallpapers-16.04",
            "lomiri-wallpapers-20.04", "mate-backgrounds"]
WALLPAPERS = "usr/share/wallpapers"
BACKGROUNDS = "usr/share/backgrounds"
OPENCV = "usr/share/doc/opencv-doc/examples/data"
MIN_SIDE = 320

# Chosen by looking at every candidate (contact sheets): photographs of real scenes.
PHOTO_WALLPAPERS = ["BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow",
                    "FallenLeaf", "Grey", "OneStandsOut", "Path", "Volna", "summer_1am"]
PHOTO_OPENCV = ["aero1.jpg", "aero3.jpg", "aloeL.jpg", "aloeR.jpg", "apple.jpg", "baboon.jpg",
                "basketball1.png", "board.jpg", "box.png", "box_in_scene.png", "building.jpg",
                "butterfly.jpg", "chicky_512.png", "ela_original.jpg", "fruits.jpg",
                "graf1.png", "graf3.png", "home.jpg", "leuvenA.jpg", "leuvenB.jpg",
                "licenseplate_motion.jpg", "messi5.jpg", "rubberwhale1.png", "squirrel_cls.jpg"]
# The photographs among the Lomiri (Ubuntu Touch 16.04/20.04 community) and MATE wallpapers.
# gnome-backgrounds 43.1, ukui-wallpapers 20.04.3 and lomiri-wallpapers 20.04.0 were looked at
# too: illustrations and renders only, so they are not used.
PHOTO_BACKGROUNDS = [
    "Bridge_by_Sander_Klootwijk.jpg", "Dragonfly_by_Bolly.jpg", "Infinite-Sea_by_Aury88.jpg",
    "Kleiber_by_Lukas_Baubkus.jpg", "Picture_0B_by_freespace.jpg", "Picture_1A_by_freespace.jpg",
    "Wine_by_Jakkub_Mede.jpg", "aitzgorri_by_Aitzol_Berasategi.jpg", "free_by_Peter_Nerlich.jpg",
    "friends_by_Aitzol_Berasategi.jpg", "greentock_by_Peter_Nerlich.jpg",
    "life_by_Aitzol_Berasategi.jpg", "picosdeeuropa_by_Aitzol_Berasategi.jpg",
    "seeding_by_Clements_Engelhardt.jpg", "sunset_by_Aitzol_Berasategi.jpg",
] + [f"mate/nature/{n}.jpg" for n in (
    "Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird", "RainDrops",
    "Storm", "TwoWings", "Wood", "YellowFlower")]
ILLUSTRATION_WALLPAPERS = ["Altai", "Autumn", "SafeLanding", "Cascade", "Honeywave"]
HOLDOUT = ["cv_squirrel_cls", "wall_Path", "cv_messi5"]  # -> OUT_val, never trained on
VIDEOS = {"vtest.avi": 12, "Megamind.avi": 8, "tree.avi": 3}  # frames taken, evenly spaced


def fetch(debs: Path) -> dict[str, str]:
    """Download (if absent) and return {package: version}."""
    debs.mkdir(parents=True, exist_ok=True)
    versions = {}
    for pkg in PACKAGES:
        found = sorted(debs.glob(f"{pkg}_*.deb"))
        if not found:
            subprocess.run(["apt-get", "download", pkg], cwd=debs, check=True)
            found = sorted(debs.glob(f"{pkg}_*.deb"))
        versions[pkg] = found[-1].name.split("_")[1].replace("%3a", ":")
    return versions


def largest_image(folder: Path) -> Path:
    files = [f for f in folder.rglob("contents/images*/*")
             if f.suffix.lower() in (".jpg", ".jpeg", ".png")]
    return max(files, key=lambda f: Image.open(f).size[0] * Image.open(f).size[1])


def save_scales(src: Path, out: Path, stem: str, scales: list[float]) -> int:
    im = Image.open(src).convert("RGB")
    n = 0
    for s in scales:
        w, h = round(im.width * s), round(im.height * s)
        if min(w, h) < MIN_SIDE:
            continue
        copy = im if s == 1 else im.resize((w, h), Image.LANCZOS)
        copy.save(out / f"{stem}_{w}x{h}.png")
        n += 1
    return n


def photo_scales(short_side: int) -> list[float]:
    """Large JPEG wallpapers lose their full scale (artefacts); small photos keep it."""
    if short_side <= 800:
        return [1.0, 0.75]
    return [s for s in (1 / 1.5, 1 / 2, 1 / 3, 1 / 4, 1 / 6) if short_side * s >= MIN_SIDE]


def video_frames(video_dir: Path, out: Path) -> int:
    if shutil.which("ffmpeg") is None:
        print("ffmpeg not found: video frames skipped")
        return 0
    n = 0
    for name, count in VIDEOS.items():
        src = video_dir / name
        if not src.exists():
            continue
        probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams",
                                "v:0", "-show_entries", "stream=nb_read_frames", "-of",
                                "csv=p=0", str(src)], capture_output=True, text=True, check=True)
        total = int(probe.stdout.strip())
        step = max(1, total // count)
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-vf",
                        f"select='not(mod(n\\,{step}))'", "-vsync", "vfr", "-frames:v",
                        str(count), str(out / f"video_{src.stem}_%03d.png")], check=True)
        n += count
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="cache/corpus")
    ap.add_argument("--debs", default="cache/debs")
    ap.add_argument("--videos", default=str(Path(__file__).resolve().parents[2]
                                            / "shared" / "data" / "video"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    versions = fetch(Path(args.debs))
    counts = {"photo": 0, "illustration": 0, "video": 0}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for deb in sorted(Path(args.debs).glob("*.deb")):
            if deb.name.split("_")[0] in PACKAGES:
                subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
        photos = ([(largest_image(root / WALLPAPERS / n), f"wall_{n}") for n in PHOTO_WALLPAPERS]
                  + [(root / OPENCV / n, f"cv_{Path(n).stem}") for n in PHOTO_OPENCV]
                  + [(root / BACKGROUNDS / n, f"bg_{Path(n).stem.split('_by_')[0]}")
                     for n in PHOTO_BACKGROUNDS])
        for src, stem in photos:
            short = min(Image.open(src).size)
            counts["photo"] += save_scales(src, out, stem, photo_scales(short))
        for name in ILLUSTRATION_WALLPAPERS:
            src = largest_image(root / WALLPAPERS / name)
            short = min(Image.open(src).size)
            counts["illustration"] += save_scales(src, out, f"illus_{name}", [600 / short])
    counts["video"] = video_frames(Path(args.videos), out)
    val = out.parent / f"{out.name}_val"
    val.mkdir(exist_ok=True)
    for stem in HOLDOUT:  # the smallest copy of each held-out photo validates, the rest go
        copies = sorted(out.glob(f"{stem}_*.png"), key=lambda p: p.stat().st_size)
        if copies:
            copies[0].replace(val / copies[0].name)
        for p in copies[1:]:
            p.unlink()
    counts["validation"] = len(list(val.glob("*.png")))
    lines = [f"{p} {v}" for p, v in versions.items()]
    lines += [f"{k}: {v} files" for k, v in counts.items()]
    (out / "SOURCES.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
