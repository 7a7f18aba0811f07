"""Speed and memory of the learned person-crop networks, against torchvision's Mask R-CNN R50-FPN.

For every variant at the default crop size (random weights: speed does not depend on them):

* inference, end to end (crops, prior channels for ``pose``, BlazePose's person score
  for ``pose+blazepose``, network, paste-back to image coordinates) on real COCO dev images with their
  ground-truth people:
  instances per second and ms per image;
* the network alone on a batch of crops: instances per second;
* peak memory: on CUDA ``torch.cuda.max_memory_allocated`` during inference; on CPU the
  growth of the process's peak resident set from before the model is built to the end
  of inference (weights + activations + buffers; each variant runs in its own process);
* training: crops per second of full training steps (data preparation, forward,
  backward, AdamW update; batch 16, one process);
* torchvision's ``maskrcnn_resnet50_fpn`` (random weights, ``box_score_thresh=0`` so
  the mask head runs on its usual 100 detections) forward pass per image on the same
  images in the same run, and the ratio of its time per image to ours.

Run from the repository root::

    python benchmarks/bench_models.py [--images 8] [--device cpu] [--threads 2]

Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

DATA = Path(os.environ.get("POSE2INSTANCE_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
DEV = DATA / "coco_persons" / "annotations" / "person_keypoints_dev.json"
#: benchmarked networks: name -> (variant, score input, backbone); pose+blazepose runs BlazePose per person too
#: (the network shipped before), blazepose-pose is BlazePose GHUM fine-tuned with the pose (shipped now; 256 px crops)
VARIANTS = {"seg": ("seg", None, "tiny"), "multitask": ("multitask", None, "tiny"),
            "cascade": ("cascade", None, "tiny"), "pose": ("pose", None, "tiny"),
            "pose+blazepose": ("pose", "blazepose", "tiny"), "blazepose-pose": ("pose", None, "blazepose")}
#: the crop side of each backbone (tiny: --crop-size)
BACKBONE_CROP = {"blazepose": 256}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def load_images(n: int):
    from pose2instance.io import CocoPersons
    ds = CocoPersons(DEV)
    chosen = [i for i in ds.image_ids if len(ds.persons(i, with_masks=False)) >= 2][:n]
    return [(ds.load_image(i), ds.persons(i, with_masks=False)) for i in chosen]


def sync(device):
    import torch
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_variant(name: str, args) -> dict:
    """One network of :data:`VARIANTS`, in this process."""
    import torch
    from pose2instance.io import CocoPersons
    from pose2instance.learned.dataset import PersonCropDataset
    from pose2instance.learned.models import Predictor, build_model
    from pose2instance.learned.train import compute_losses
    torch.manual_seed(0)
    device = torch.device(args.device)
    images = load_images(args.images)
    rss0 = peak_rss_mib()
    variant, score_input, backbone = VARIANTS[name]
    crop = BACKBONE_CROP.get(backbone, args.crop_size)
    model = build_model(variant, backbone, crop_size=crop, score_input=score_input).to(device).eval()
    pred = Predictor(model, device)
    pred.logits(*images[0])  # warm-up
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    people = sum(len(p) for _, p in images)
    t = time.perf_counter()
    for _ in range(args.repeats):
        for image, persons in images:
            pred.logits(image, persons)
    sync(device)
    e2e = (time.perf_counter() - t) / args.repeats
    mem = (torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else peak_rss_mib() - rss0)

    x = torch.rand(32, model.in_channels, crop, crop, device=device)
    with torch.no_grad():
        model(x)
        sync(device)
        t = time.perf_counter()
        for _ in range(args.repeats):
            model(x)
        sync(device)
    net = 32 * args.repeats / (time.perf_counter() - t)

    data = PersonCropDataset([(CocoPersons(DEV), None)], model.config, seed=0)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    steps, batch = args.train_steps, 16
    loader = torch.utils.data.DataLoader(data, batch_size=batch, shuffle=True, drop_last=True)
    it = iter(loader)
    b = {k: v.to(device) for k, v in next(it).items()}  # warm-up step
    loss, _ = compute_losses(model(b["input"]), b, 1.0)
    loss.backward()
    sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        b = {k: v.to(device) for k, v in next(it).items()}
        loss, _ = compute_losses(model(b["input"]), b, 1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    sync(device)
    train = steps * batch / (time.perf_counter() - t)
    return {"variant": name, "crop": crop, "params": sum(p.numel() for p in model.parameters()), "people": people,
            "images": len(images), "e2e_inst_per_s": people / e2e, "e2e_ms_per_image": 1e3 * e2e / len(images),
            "net_inst_per_s": net, "peak_mem_mib": mem, "train_crops_per_s": train}


def bench_maskrcnn(args) -> dict:
    import torch
    import torchvision
    from pose2instance.resample import image_planes
    torch.manual_seed(0)
    device = torch.device(args.device)
    images = [torch.from_numpy(image_planes(im)).to(device) for im, _ in load_images(args.images)]
    rss0 = peak_rss_mib()
    net = torchvision.models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None,
                                                              box_score_thresh=0.0).to(device).eval()
    with torch.no_grad():
        net([images[0]])
        sync(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        t = time.perf_counter()
        detections = 0
        for im in images:
            detections += len(net([im])[0]["masks"])
        sync(device)
    per_image = (time.perf_counter() - t) / len(images)
    mem = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else peak_rss_mib() - rss0
    return {"ms_per_image": 1e3 * per_image, "peak_mem_mib": mem, "detections_per_image": detections / len(images)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=8, help="dev images with at least two people")
    p.add_argument("--crop-size", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--train-steps", type=int, default=8)
    p.add_argument("--device", default=None, help="default: cuda when available")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    p.add_argument("--no-maskrcnn", action="store_true", help="skip the Mask R-CNN reference")
    p.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one item and print JSON
    args = p.parse_args()
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.one:
        print(json.dumps(bench_maskrcnn(args) if args.one == "maskrcnn" else bench_variant(args.one, args)))
        return
    results = {}
    for item in (*args.variants, *([] if args.no_maskrcnn else ["maskrcnn"])):  # each in a fresh process

        cmd = [sys.executable, __file__, "--one", item, *sys.argv[1:]]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        results[item] = json.loads(out.strip().splitlines()[-1])
        print(f"{item}: {results[item]}", file=sys.stderr)
    rcnn = results.pop("maskrcnn", None)
    threads = args.threads or torch.get_num_threads()
    dev = args.device if args.device != "cpu" else f"cpu, {threads} threads"
    first = next(iter(results.values()))
    print(f"**{args.images} COCO dev images ({first['people']} people), device {dev}, torch {torch.__version__}**\n")
    print("| variant | crop px | parameters | inference inst/s (end to end) | ms / person | ms / image | "
          "network only inst/s | "
          "peak memory (MiB) | training crops/s | Mask R-CNN time / ours (per image) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for v, r in results.items():
        ratio = f"{rcnn['ms_per_image'] / r['e2e_ms_per_image']:.1f}x" if rcnn else "-"
        print(f"| {v} | {r['crop']} | {r['params']:,} | {r['e2e_inst_per_s']:.1f} | {1e3 / r['e2e_inst_per_s']:.1f} | "
              f"{r['e2e_ms_per_image']:.1f} | "
              f"{r['net_inst_per_s']:.1f} | {r['peak_mem_mib']:.0f} | {r['train_crops_per_s']:.1f} | {ratio} |")
    if rcnn:
        print(f"\nMask R-CNN R50-FPN (torchvision, random weights, box_score_thresh=0, "
              f"{rcnn['detections_per_image']:.0f} detections / image): {rcnn['ms_per_image']:.0f} ms / image, "
              f"peak memory {rcnn['peak_mem_mib']:.0f} MiB.")
    print("Peak memory on CPU: growth of the process's peak resident set from before the model is built "
          "to the end of inference; on CUDA: max_memory_allocated during inference.")


if __name__ == "__main__":
    main()
