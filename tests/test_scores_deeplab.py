"""DeepLabV3 person score: tested with random weights only (no download here)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from pose2instance.registry import make_scorer  # noqa: E402
from pose2instance.learned.deeplab import DeepLabScore  # noqa: E402


@pytest.fixture(scope="module")
def random_deeplab():
    torch.manual_seed(0)
    return DeepLabScore(weights=None, resize=128, device="cpu")


def test_random_weights_give_a_valid_score(random_deeplab, demo):
    image, persons = demo
    score = random_deeplab(image, persons)
    assert score.shape == image.shape[:2] and score.dtype == np.float32
    assert 0 <= score.min() and score.max() <= 1 and score.std() > 0


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_local_weight_files_load_without_pickle(random_deeplab, demo, tmp_path):
    from safetensors.torch import save_file
    image, persons = demo
    state = random_deeplab.model.state_dict()
    torch.save(state, tmp_path / "w.pth")
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "w.safetensors"))
    ref = random_deeplab(image, persons)
    for name in ("w.pth", "w.safetensors"):
        other = make_scorer(f"deeplab:{tmp_path / name}")
        other.resize = 128
        np.testing.assert_allclose(other(image, persons), ref, atol=1e-5)
    with pytest.raises(ValueError, match="nope.pth: weights file not found"):
        DeepLabScore(tmp_path / "nope.pth")
    (tmp_path / "evil.pth").write_bytes(b"\x80\x04junk")
    with pytest.raises(ValueError, match="evil.pth: cannot read weights"):
        DeepLabScore(tmp_path / "evil.pth")
    wrong = {k: v for k, v in state.items() if not k.startswith("aux_classifier")}
    wrong["classifier.4.weight"] = torch.zeros(3, 256, 1, 1)
    torch.save(wrong, tmp_path / "wrong.pth")
    with pytest.raises(ValueError, match=r"wrong.pth: checkpoint does not fit.*classifier.4.weight.*missing key"):
        DeepLabScore(tmp_path / "wrong.pth")
