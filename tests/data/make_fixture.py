"""Rebuild the small redistributable test fixture in tests/data from ../shared/data.

Standard library only. Usage (from anywhere):

    python tests/data/make_fixture.py [SHARED_DATA_DIR]

SHARED_DATA_DIR defaults to $POSE2INSTANCE_DATA, else ../shared/data next to the
repository. The script copies the chosen COCO images byte for byte, writes each
annotation file restricted to those images (all their annotations, crowd ones
included, unchanged; top-level fields kept in their original order), copies the
OCHuman sample unchanged and regenerates README.md. Running it again reproduces
every file exactly.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

# COCO image ids per annotation file. Only licence ids 4, 5, 7 and 8 may be redistributed.
IMAGE_IDS = {
    "person_keypoints_dev.json": [790, 60623, 252219, 256353, 329323],
    "person_masks_only.json": [184324, 547503],
    "person_keypoints_single.json": [389532, 451155, 490515, 505451],
    "person_masks_only_coco128.json": [308],
}
REDISTRIBUTABLE_LICENSES = {4, 5, 7, 8}
OCHUMAN_FILES = ["annotations/ochuman_dev.json", "images/000817.jpg", "images/003799.jpg", "images/003896.jpg"]

HERE = Path(__file__).resolve().parent


def default_src() -> Path:
    env = os.environ.get("POSE2INSTANCE_DATA")
    return Path(env) if env else HERE.parents[2] / "shared" / "data"


def copy_bytes(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    data = src.read_bytes()
    if not dst.is_file() or dst.read_bytes() != data:
        dst.write_bytes(data)


def subset(coco: dict, ids: list[int], name: str) -> dict:
    by_id = {im["id"]: im for im in coco["images"]}
    for i in ids:
        if i not in by_id:
            raise SystemExit(f"{name}: image {i} not found")
        if by_id[i]["license"] not in REDISTRIBUTABLE_LICENSES:
            raise SystemExit(f"{name}: image {i} has licence {by_id[i]['license']}, not redistributable")
    keep = set(ids)
    out = {}
    for key, value in coco.items():  # original key order
        if key == "images":
            value = [im for im in value if im["id"] in keep]
        elif key == "annotations":
            value = [a for a in value if a["image_id"] in keep]
        out[key] = value
    return out


def image_rows(name: str, coco: dict) -> list[str]:
    licences = {lic["id"]: lic for lic in coco["licenses"]}
    rows = []
    for im in coco["images"]:
        anns = [a for a in coco["annotations"] if a["image_id"] == im["id"]]
        crowd = sum(1 for a in anns if a.get("iscrowd"))
        with_kp = sum(1 for a in anns if a.get("num_keypoints", 0) > 0)
        kp = str(with_kp) if any("keypoints" in a for a in anns) else "-"
        lic = licences[im["license"]]
        rows.append(f"| {im['id']} | `{im['file_name']}` | {name} | {len(anns) - crowd} | {kp} | {crowd} "
                    f"| {im['license']}: [{lic['name']}]({lic['url']}) | {im['flickr_url']} | {im['coco_url']} |")
    return rows


README_HEAD = """\
# Test fixture: real person photos that may be redistributed

A small subset of the project's real data (`../shared/data`, see its README), so that
the test suite runs on a fresh clone. It was made by `make_fixture.py` (standard
library only; the image ids are constants at its top): it copies the images byte
for byte and writes each annotation file restricted to the chosen images, with all
their annotations (crowd regions included) unchanged and the original top-level
fields (`info`, `licenses`, `categories`, ...). Running it again reproduces every
file here exactly (this README included). Layout is the same as `../shared/data`:

    coco_persons/annotations/person_keypoints_dev.json (and the three other files below)
    coco_persons/images/*.jpg
    ochuman/annotations/ochuman_dev.json
    ochuman/images/*.jpg

The tests always read it (`tests/conftest.py`: `FIXTURE`); the few tests that need
the full data (`../shared/data`, or `$POSE2INSTANCE_DATA`) are skipped without it.

| annotation file | images | person annotations | with keypoints |
|---|---|---|---|
{totals}
| ochuman_dev.json | 3 | 5 (0 crowd) | 5 |

## COCO images

Only images whose Flickr licence id (`images[].license`) is 4, 5, 7 or 8 are
included (CC BY 2.0, CC BY-SA 2.0, no known copyright restrictions, US Government
work); the other COCO licences are non-commercial or no-derivatives.
"persons" counts non-crowd person annotations, "with kp" those with
`num_keypoints > 0` ("-": the file has no keypoint fields), "crowd" the `iscrowd`
regions.

| COCO id | file | annotation file | persons | with kp | crowd | licence | flickr_url | coco_url |
|---|---|---|---|---|---|---|---|---|
"""

README_TAIL = """
Attribution: images and annotations from the COCO 2017 dataset, Lin et al.,
"Microsoft COCO: Common Objects in Context", ECCV 2014 (https://cocodataset.org).
COCO annotations are under CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/);
each image keeps the licence of its Flickr photo, listed above, and its source is
its `flickr_url`.

## OCHuman

`ochuman/` is an unchanged copy of `../shared/data/ochuman`: 3 images, 5 persons,
all with keypoints, RLE masks (images 1: `003799.jpg`, 2: `000817.jpg`,
3: `003896.jpg`). These are samples of the OCHuman dataset (Zhang et al.,
"Pose2Seg: Detection Free Human Instance Segmentation", CVPR 2019), as distributed
with an Apache-2.0 test fixture (the MMPose example OCHuman dataset, `info`
"MMPose example ochuman dataset"); redistributed here under the Apache License 2.0
(https://www.apache.org/licenses/LICENSE-2.0), which is also this project's licence.
"""


def main(argv: list[str]) -> int:
    src = Path(argv[1]) if len(argv) > 1 else default_src()
    if not (src / "coco_persons" / "annotations").is_dir():
        raise SystemExit(f"shared data not found: {src}")
    rows, totals = [], []
    wanted = set()
    for name, ids in IMAGE_IDS.items():
        coco = json.loads((src / "coco_persons" / "annotations" / name).read_text(encoding="utf-8"))
        small = subset(coco, ids, name)
        text = json.dumps(small, ensure_ascii=False, separators=(",", ":")) + "\n"
        dst = HERE / "coco_persons" / "annotations" / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(text, encoding="utf-8")
        for im in small["images"]:
            wanted.add(im["file_name"])
            rel = Path("coco_persons") / "images" / im["file_name"]
            copy_bytes(src / rel, HERE / rel)
        rows += image_rows(name, small)
        anns = small["annotations"]
        crowd = sum(1 for a in anns if a.get("iscrowd"))
        kp = sum(1 for a in anns if a.get("num_keypoints", 0) > 0) if any("keypoints" in a for a in anns) else "none"
        totals.append(f"| {name} | {len(small['images'])} | {len(anns)} ({crowd} crowd) | {kp} |")
    # Remove images that are no longer chosen.
    for p in sorted((HERE / "coco_persons" / "images").iterdir()):
        if p.name not in wanted:
            p.unlink()
    for rel in OCHUMAN_FILES:
        copy_bytes(src / "ochuman" / rel, HERE / "ochuman" / rel)
    text = README_HEAD.replace("{totals}", "\n".join(totals)) + "\n".join(rows) + "\n" + README_TAIL
    (HERE / "README.md").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
