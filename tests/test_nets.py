import pytest
import torch
import torch.nn.functional as F

from pix2gan.nets import PatchDiscriminator, UNet, patch_receptive_field
from pix2gan.runtime import cpu_has_amx


@pytest.mark.parametrize("depth", [3, 5, 8])
@pytest.mark.parametrize("hw", [(37, 53), (64, 64), (1, 1), (2, 3), (130, 17)])
def test_unet_output_size_equals_input_size(depth, hw):
    net = UNet(1, 2, depth=depth, ngf=4).eval()
    y = net(torch.rand(2, 1, *hw) * 2 - 1)
    assert y.shape == (2, 2, *hw)
    assert y.abs().max() <= 1.0  # tanh output


def test_unet_trains_on_odd_size_with_batch_norm():
    net = UNet(3, 3, depth=4, ngf=4, norm="batch").train()
    y = net(torch.randn(2, 3, 37, 53))
    y.mean().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_unet_pix2pix_256_structure():
    """depth 8, ngf 64 is pix2pix's unet_256: 54.4M parameters, three dropout layers."""
    net = UNet(3, 3, depth=8, ngf=64)
    n_params = sum(p.numel() for p in net.parameters())
    assert n_params == pytest.approx(54.4e6, rel=0.01)
    assert sum(isinstance(m, torch.nn.Dropout) for m in net.modules()) == 3


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_unet_norms(norm):
    y = UNet(1, 2, depth=3, ngf=4, norm=norm)(torch.randn(2, 1, 16, 16))
    assert y.shape == (2, 2, 16, 16)


def test_unet_rejects_bad_arguments():
    with pytest.raises(ValueError, match="norm"):
        UNet(norm="group")
    with pytest.raises(ValueError, match="depth"):
        UNet(depth=1)


@pytest.mark.parametrize("n_layers,rf", [(1, 16), (2, 34), (3, 70), (4, 142), (5, 286)])
def test_patch_receptive_field_documented_values(n_layers, rf):
    assert patch_receptive_field(n_layers) == rf


@pytest.mark.parametrize("n_layers", [1, 2, 3])
def test_patchgan_receptive_field_measured_by_gradient(n_layers):
    """The input pixels that reach one output logit span exactly the documented receptive field."""
    torch.manual_seed(0)
    d = PatchDiscriminator(1, ndf=4, n_layers=n_layers, norm="none").double()
    size = 2 * patch_receptive_field(n_layers) + 16
    x = torch.randn(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    out = d(x)
    i = out.shape[-1] // 2
    out[0, 0, i, i].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(1)).flatten()
    cols = torch.nonzero(x.grad[0, 0].abs().sum(0)).flatten()
    # the input is large enough that the centre logit's field lies inside it (no border effects)
    assert int(rows.max() - rows.min() + 1) == patch_receptive_field(n_layers)
    assert int(cols.max() - cols.min() + 1) == patch_receptive_field(n_layers)


def test_patchgan_output_size_for_256_input():
    d = PatchDiscriminator(3 + 3, ndf=8, n_layers=3)
    assert d(torch.randn(1, 6, 256, 256)).shape == (1, 1, 30, 30)  # pix2pix's 30×30 patch map


def test_patchgan_outputs_raw_logits_and_spectral_norm():
    d = PatchDiscriminator(2, ndf=4, n_layers=2, norm="none", spectral_norm=True)
    assert any("parametrizations" in k for k in d.state_dict())
    x = torch.randn(2, 2, 32, 32) * 50
    y = d.eval()(x)  # eval: spectral norm's power iteration does not move between the two calls below
    assert y.shape == (2, 1, 6, 6)
    assert torch.equal(y, d.model[-1](d.model[:-1](x)))  # the last conv's output as it is: nothing squashes it
    assert y.min() < 0 and y.max() > 1  # logits, not probabilities


def _forward_flops(net, hw) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc, torch.no_grad():
        net(torch.zeros(1, 1, *hw))
    return fc.get_total_flops()


def test_unet_cost_is_proportional_to_pixels():
    """Odd sides are padded per level, not the image to a multiple of 2**depth: a 128² input to a depth-8 U-Net
    costs a quarter of a 256² one (it cost the same when the whole image was padded to 256²), and 96² costs
    (96/64)² of 64² at depth 6 (not (128/64)²)."""
    net = UNet(1, 2, depth=8, ngf=8).eval()
    assert _forward_flops(net, (128, 128)) / _forward_flops(net, (256, 256)) == pytest.approx(0.25, rel=0.05)
    net = UNet(1, 2, depth=6, ngf=8).eval()
    assert _forward_flops(net, (96, 96)) / _forward_flops(net, (64, 64)) == pytest.approx(2.25, rel=0.05)


def test_unet_pads_only_the_levels_that_need_it(monkeypatch):
    """A multiple of 2**depth is never padded; 65×65 at depth 3 is padded at the three levels whose side is odd
    (65, 33, 17), by one replicated pixel at the bottom/right each."""
    import pix2gan.nets.unet as unet

    calls = []
    real_pad = unet.F.pad

    def pad(x, p, mode):
        calls.append((x.shape[-1], tuple(p), mode))
        return real_pad(x, p, mode=mode)

    monkeypatch.setattr(unet.F, "pad", pad)
    net = UNet(1, 2, depth=3, ngf=4).eval()
    net(torch.rand(1, 1, 64, 64))
    assert calls == []
    assert net(torch.rand(1, 1, 65, 65)).shape[-2:] == (65, 65)
    assert calls == [(65, (0, 1, 0, 1), "replicate"), (33, (0, 1, 0, 1), "replicate"),
                     (17, (0, 1, 0, 1), "replicate")]


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_deep_unet_trains_on_small_images_with_batch_1(norm):
    """unet_256's depth at 128² (and at 5×7): the inner levels are padded so no norm sees a 1×1 map."""
    net = UNet(1, 2, depth=8, ngf=2, norm=norm).train()
    for hw in [(128, 128), (5, 7)]:
        y = net(torch.randn(1, 1, *hw))
        assert y.shape == (1, 2, *hw)
        y.mean().backward()


@pytest.mark.parametrize("batch, side", [(1, 32), (2, 16)])
def test_small_maps_as_matmul_are_the_same_function(monkeypatch, batch, side):
    """The matmul route for the layers next to the bottleneck computes what nn.Conv2d / nn.ConvTranspose2d do:
    equal outputs and equal gradients for every parameter and the input (float64, every layer on one route)."""
    import pix2gan.nets.unet as unet

    torch.manual_seed(0)
    G = UNet(1, 2, depth=5, ngf=4, norm="instance", dropout=0.0).double()
    x = torch.randn(batch, 1, side, side, dtype=torch.float64)
    results = []
    for positions in (0, 10**9):  # 0: every layer through oneDNN's convolutions; 10**9: every layer a matmul
        monkeypatch.setattr(unet, "MATMUL_POSITIONS", {"fp32": positions, "bf16": positions})
        G.zero_grad()
        xi = x.clone().requires_grad_()
        y = G(xi)
        (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)).sum().backward()
        results.append((y.detach(), xi.grad, [p.grad.clone() for p in G.parameters()]))
    (y0, gx0, gp0), (y1, gx1, gp1) = results
    torch.testing.assert_close(y1, y0)
    torch.testing.assert_close(gx1, gx0)
    for a, b in zip(gp1, gp0):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("cpu, fp32_layers, bf16_layers", [("other", 1, 4), ("amx", 4, 5)])
def test_the_matmul_route_is_taken_where_it_wins(monkeypatch, cpu, fp32_layers, bf16_layers):
    """unet_256 at 256², batch 1, each CPU class's thresholds: elsewhere than on AMX only the 1-pixel bottleneck
    layers go through the matmul in fp32, levels 4–7 each way under bf16 autocast; on AMX levels 4–7 in fp32 and
    3–7 under bf16. The output stays close to oneDNN's."""
    import pix2gan.nets.unet as unet

    assert unet.MATMUL_POSITIONS == unet.MATMUL_POSITIONS_BY_CPU["amx" if cpu_has_amx() else "other"]
    monkeypatch.setattr(unet, "MATMUL_POSITIONS", unet.MATMUL_POSITIONS_BY_CPU[cpu])
    calls = []
    real_unfold, real_fold = unet.F.unfold, unet.F.fold
    monkeypatch.setattr(unet.F, "unfold", lambda *a, **k: calls.append("unfold") or real_unfold(*a, **k))
    monkeypatch.setattr(unet.F, "fold", lambda *a, **k: calls.append("fold") or real_fold(*a, **k))
    torch.manual_seed(0)
    G, x = UNet(1, 2, depth=8, ngf=4).eval(), torch.rand(1, 1, 256, 256) * 2 - 1
    with torch.no_grad():
        G(x)
        assert calls.count("unfold") == fp32_layers and calls.count("fold") == fp32_layers
        calls.clear()
        with torch.autocast("cpu", torch.bfloat16):
            routed = G(x).float()
        assert calls.count("unfold") == bf16_layers and calls.count("fold") == bf16_layers
        monkeypatch.setattr(unet, "MATMUL_POSITIONS", {"fp32": 0, "bf16": 0})
        with torch.autocast("cpu", torch.bfloat16):
            onednn = G(x).float()
    torch.testing.assert_close(routed, onednn, atol=0.05, rtol=0)


@pytest.mark.parametrize("upsample", ["resize", "pixelshuffle"])
def test_unet_upsample_choices_keep_sizes_and_train(upsample):
    net = UNet(1, 2, depth=4, ngf=4, upsample=upsample).train()
    y = net(torch.randn(2, 1, 37, 53))
    assert y.shape == (2, 2, 37, 53)
    y.mean().backward()
    assert all(p.grad is not None for p in net.parameters())
    with pytest.raises(ValueError, match="upsample"):
        UNet(upsample="deconv")


@pytest.mark.parametrize("shape", [(2, 5, 1, 1), (1, 5, 1, 7), (1, 5, 6, 1), (3, 5, 7, 9), (1, 5, 2, 2)])
def test_the_folded_resize_layer_is_the_resize_layer(shape):
    from pix2gan.nets.unet import FoldedResizeUp, ResizeUp

    torch.manual_seed(0)
    up = ResizeUp(5, 3)
    torch.nn.init.normal_(up.conv.bias)
    folded = FoldedResizeUp(up)
    x = torch.randn(shape) * 3
    with torch.inference_mode():
        ref = up(x)
        for y in (folded(x), folded(x.contiguous(memory_format=torch.channels_last))):
            assert y.shape == ref.shape
            torch.testing.assert_close(y, ref, rtol=0, atol=1e-5)  # the ring of edge pixels too
        # without the edge correction the outermost ring would differ: the test exercises it
        bare = F.pixel_shuffle(F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), folded.folded_weight,
                                        folded.folded_bias), 2)
    assert (bare - ref)[..., 0, :].abs().max() > 1e-2 and (bare - ref)[..., :, -1].abs().max() > 1e-2


def test_folding_changes_only_the_output_layer_and_not_the_weights():
    from pix2gan.nets.unet import FoldedResizeUp, ResizeUp, fold_resize_ups

    torch.manual_seed(1)
    net = UNet(1, 2, depth=4, ngf=16, upsample="resize").eval()  # up layers to 2, 16, 32, 64 channels
    x = torch.randn(1, 1, 37, 53)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.inference_mode():
        ref = net(x)
        fold_resize_ups(net)
        torch.testing.assert_close(net(x), ref, rtol=0, atol=1e-5)
    kinds = [type(m) for m in net.modules() if isinstance(m, (ResizeUp, FoldedResizeUp))]
    assert kinds.count(FoldedResizeUp) == 1 and kinds.count(ResizeUp) == 3  # the output layer alone
    after = net.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)


def test_icnr_starts_the_sub_pixel_layer_as_nearest_neighbour_upsampling():
    from pix2gan.nets import init_weights
    from pix2gan.nets.unet import SubPixelUp

    layer = SubPixelUp(3, 2)
    init_weights(layer)
    torch.nn.init.normal_(layer.conv.bias)  # biases too stay equal across the four sub-pixels
    layer.icnr_()
    y = layer(torch.randn(1, 3, 5, 7))
    assert torch.equal(y, torch.nn.functional.interpolate(y[..., ::2, ::2], scale_factor=2.0, mode="nearest"))


def test_configs_written_before_the_upsample_choice_load_as_transposed():
    import dataclasses

    from pix2gan.config import TrainConfig
    from pix2gan.models import build_generator

    old = {k: v for k, v in dataclasses.asdict(TrainConfig(depth=3, ngf=4)).items() if k != "upsample"}
    cfg = TrainConfig.from_dict(old)
    assert cfg.upsample == "transposed"
    assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in build_generator(cfg).modules())
    resize = build_generator(TrainConfig.from_dict({**old, "upsample": "resize"}))
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in resize.modules())
