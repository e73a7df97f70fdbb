"""Faults a notebook cannot show well: pretrained-weight loading offline, refused pickles, corrupt or mismatched checkpoints."""
import math, re

import pytest
import torch

from geonb.conduit import svae
from geonb.conduit.svae import PretrainedWeightsError, freckles_64, load_pretrained


@pytest.fixture
def offline(tmp_path, monkeypatch):
    "No data folder, an empty Hugging Face cache, and a download that fails the test if anything calls it."
    monkeypatch.setenv('GEONB_DATA', str(tmp_path/'data'))
    monkeypatch.setenv('HF_HOME', str(tmp_path/'hf'))
    monkeypatch.setenv('HF_HUB_CACHE', str(tmp_path/'hf'/'hub'))
    import huggingface_hub
    def no_network(*a, **k): raise AssertionError('load_pretrained tried to download without download=True')
    monkeypatch.setattr(huggingface_hub, 'hf_hub_download', no_network)
    return tmp_path


TO_UPSTREAM = [(r'^(enc|dec)oder\.input\.', r'\1_in.'), (r'^(enc|dec)oder\.output\.', r'\1_out.'),
               (r'^(enc|dec)oder\.blocks\.(\d+)\.norm\.', r'\1_blocks.\2.0.'), (r'^(enc|dec)oder\.blocks\.(\d+)\.first\.', r'\1_blocks.\2.1.'),
               (r'^(enc|dec)oder\.blocks\.(\d+)\.second\.', r'\1_blocks.\2.3.'), (r'^cross_attention\.(\d+)\.query_key_value\.', r'cross_attn.\1.qkv.'),
               (r'^cross_attention\.(\d+)\.output\.', r'cross_attn.\1.out_proj.'), (r'^cross_attention\.', 'cross_attn.'),
               (r'^smooth\.expand\.', 'boundary_smooth.net.0.'), (r'^smooth\.project\.', 'boundary_smooth.net.2.')]


def upstream_checkpoint(path, **config):
    "A checkpoint in upstream's layout: random freckles_64 weights under upstream's key names."
    state = {}
    for k, v in freckles_64().state_dict().items():
        for pattern, repl in TO_UPSTREAM:
            if re.match(pattern, k): k = re.sub(pattern, repl, k); break
        state[k] = v
    cfg = dict(V=48, D=4, patch_size=4, hidden=384, depth=4, n_cross_layers=2) | config
    torch.save(dict(config=cfg, model_state_dict=state, epoch=100, test_mse=5e-6), path)
    return state


def test_offline_without_weights_fails_at_once_and_says_where_to_get_them(offline):
    with pytest.raises(PretrainedWeightsError, match='huggingface.co/AbstractPhil/geolip-SVAE') as e:
        load_pretrained()
    assert 'v40_freckles_noise/checkpoints/best.pt' in str(e.value) and 'path=' in str(e.value)
    assert isinstance(e.value, FileNotFoundError)


def test_weights_in_the_data_folder_are_found(offline):
    target = offline/'data'/'geolip-SVAE'/'v40_freckles_noise'/'checkpoints'/'best.pt'
    target.parent.mkdir(parents=True)
    state = upstream_checkpoint(target)
    model = load_pretrained()
    assert torch.equal(model.encoder.blocks[1].first.weight, state['enc_blocks.1.1.weight'])
    assert not model.training


def test_a_pickle_with_code_is_refused(offline):
    class Payload:
        def __reduce__(self): return (print, ('this ran',))
    bad = offline/'evil.pt'
    torch.save({'model_state_dict': {}, 'x': Payload()}, bad)
    with pytest.raises(PretrainedWeightsError, match='weights-only'):
        load_pretrained(bad)


def test_corrupt_and_mismatched_checkpoints_fail_with_typed_errors(offline):
    good = offline/'good.pt'
    upstream_checkpoint(good)
    cut = offline/'cut.pt'
    cut.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(PretrainedWeightsError, match='could not read'):
        load_pretrained(cut)
    other = offline/'johanna.pt'
    upstream_checkpoint(other, D=16)
    with pytest.raises(PretrainedWeightsError, match=r"found \{'D': 16\}"):
        load_pretrained(other)


def test_nan_weights_are_refused(offline):
    path = offline/'nan.pt'
    state = upstream_checkpoint(path)
    state['dec_out.bias'][0] = math.nan
    torch.save(dict(model_state_dict=state), path)
    with pytest.raises(PretrainedWeightsError, match='NaN or inf'):
        load_pretrained(path)


def test_safetensors_weights_load(offline):
    from safetensors.torch import save_file
    model = freckles_64()
    path = offline/'freckles.safetensors'
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    loaded = load_pretrained(path)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
