"""The layering of docs/ARCHITECTURE.md holds: no import circle, nothing imports a higher layer, one home each."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "pose2instance"

#: docs/ARCHITECTURE.md, "Layers": top-level module or wing -> layer.
LAYERS = {"structures": 1, "layouts": 1, "crops": 1, "resample": 1, "limits": 1, "parallel": 1, "named": 1, "errors": 1,
          "priors": 2, "fusion": 2, "pipeline": 2, "io": 3, "visualize": 3, "scores": 4, "estimators": 4,
          "evaluation": 4, "learned": 5, "registry": 6, "cluster": 6, "segment": 6, "web": 7, "cli": 8}


def wing_imports() -> dict[str, set[str]]:
    """Wing -> the other wings it imports (relative and absolute imports, lazy ones included)."""
    edges: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts == ("__init__",) or parts == ("__main__",):
            continue
        package = list(parts[:-1]) if parts[-1] != "__init__" else list(parts[:-1])
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[: len(package) - node.level + 1]
                target = base + (node.module.split(".") if node.module else [])
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pose2instance."):
                target = node.module.split(".")[1:]
            else:
                continue
            if target and target[0] != parts[0]:
                edges[parts[0]].add(target[0])
    return edges


def test_every_module_belongs_to_a_layer():
    wings = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()}
    assert wings == set(LAYERS)


def test_no_wing_imports_a_higher_layer():
    edges = wing_imports()
    upward = sorted((a, b) for a, targets in edges.items() for b in targets if LAYERS[b] > LAYERS[a])
    assert upward == []
    # within a layer, wings may use each other only without a circle (e.g. estimators -> scores)
    same = {(a, b) for a, targets in edges.items() for b in targets if LAYERS[b] == LAYERS[a]}
    assert not any((b, a) in same for a, b in same)


def test_the_training_free_core_imports_no_outer_wing():
    edges = wing_imports()
    for core in ("structures", "layouts", "crops", "resample", "limits", "parallel", "priors", "fusion", "pipeline"):
        assert edges.get(core, set()) <= {"structures", "layouts", "crops", "limits", "errors", "named", "priors",
                                          "fusion"}, \
            core


def source_of(pattern: str) -> list[str]:
    return sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if re.search(pattern, p.read_text()))


def test_one_home_each():
    assert source_of(r'"segmentation": mask_to_rle') == ["io/results.py"]  # the COCO results writer
    assert source_of(r"(?m)^    def (to_image|to_crop)\(") == ["crops.py"]  # one crop geometry: CropWindow
    assert source_of(r"(?m)^(PRIORS|METHODS|SCORES|ESTIMATORS)\b.*=") == [
        "estimators/__init__.py", "priors/__init__.py", "registry.py"]
    assert source_of(r"(?m)^NUM_KEYPOINTS\s*=") == ["structures.py"]
    assert source_of(r"(?m)^HEATMAP_STRIDE\s*=") == ["learned/models/networks.py"]
    assert source_of(r"(?m)^def (_?json_safe|atomic_write)\(") == ["io/jsonio.py"]
    assert source_of(r"mkstemp") == ["io/jsonio.py"]


def test_every_family_picked_by_name_is_one_registry_type():
    """Issue 18: priors, estimators, file formats, scores and methods are each a pose2instance.named.Registry,
    so a new one is one registration (its help and the extra it needs included)."""
    from pose2instance.estimators import ESTIMATORS
    from pose2instance.io.formats import FORMATS
    from pose2instance.named import Registry
    from pose2instance.priors import PRIORS
    from pose2instance.registry import FUSION_PRIORS, METHODS, SCORES
    for registry in (PRIORS, ESTIMATORS, FORMATS, SCORES, METHODS):
        assert isinstance(registry, Registry) and len(registry) and all(e.help for e in registry.values())
    assert set(FUSION_PRIORS) <= set(METHODS) and set(FUSION_PRIORS) == set(PRIORS.names("fusion"))
    assert ESTIMATORS["yolo"].extra == "yolo" and SCORES["deeplab"].extra == "torch"

