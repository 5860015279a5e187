"""Every GAN loss against its formula, written out by hand here (math on Python floats, not the implementation)."""

import math

import pytest
import torch

from pix2gan.losses import GAN_LOSSES, alpha_g, gradient_penalty, l1, l2, r1_penalty

L_R = [2.0, -0.5, 0.3, 1.7]
L_F = [-1.0, 0.4, -2.2, 0.0]


def sp(x):  # softplus
    return math.log1p(math.exp(x))


def mean(xs):
    return sum(xs) / len(xs)


def reference(name):
    """(D loss, G loss) for L_R, L_F from the textbook formulas."""
    mr, mf = mean(L_R), mean(L_F)
    if name in ("minimax", "nonsaturating"):
        d = mean([sp(-r) for r in L_R]) + mean([sp(f) for f in L_F])
        g = -mean([sp(f) for f in L_F]) if name == "minimax" else mean([sp(-f) for f in L_F])
    elif name == "lsgan":
        d = 0.5 * mean([(r - 1) ** 2 for r in L_R]) + 0.5 * mean([f ** 2 for f in L_F])
        g = 0.5 * mean([(f - 1) ** 2 for f in L_F])
    elif name in ("wgan", "wgan-gp"):
        d, g = mf - mr, -mf
    elif name == "hinge":
        d = mean([max(0, 1 - r) for r in L_R]) + mean([max(0, 1 + f) for f in L_F])
        g = -mf
    elif name == "relativistic":
        d = 0.5 * (mean([sp(-(r - mf)) for r in L_R]) + mean([sp(f - mr) for f in L_F]))
        g = 0.5 * (mean([sp(r - mf) for r in L_R]) + mean([sp(-(f - mr)) for f in L_F]))
    return d, g


def as_patches(values):
    """(4,) → (2, 1, 1, 2) patch map, so the mean runs over batch and patches."""
    return torch.tensor(values, dtype=torch.float64).reshape(2, 1, 1, 2)


@pytest.mark.parametrize("name", list(GAN_LOSSES))
def test_loss_values_match_formula(name):
    loss = GAN_LOSSES[name]
    d_ref, g_ref = reference(name)
    assert loss.d_loss(as_patches(L_R), as_patches(L_F)).item() == pytest.approx(d_ref, abs=1e-12)
    assert loss.g_loss(as_patches(L_F), as_patches(L_R)).item() == pytest.approx(g_ref, abs=1e-12)


def test_registry_names_are_the_users_words():
    assert set(GAN_LOSSES) == {"minimax", "nonsaturating", "lsgan", "wgan", "wgan-gp", "hinge", "relativistic"}


def test_logistic_loss_hand_numbers():
    # D: log(1+e^-2) + log(1+e^-1); NS G: log(1+e^1)
    d = GAN_LOSSES["nonsaturating"].d_loss(torch.tensor([2.0]), torch.tensor([-1.0]))
    g = GAN_LOSSES["nonsaturating"].g_loss(torch.tensor([-1.0]), torch.tensor([2.0]))
    assert d.item() == pytest.approx(0.126928 + 0.313262, abs=1e-6)
    assert g.item() == pytest.approx(1.313262, abs=1e-6)


def test_logistic_losses_are_stable_at_extreme_logits():
    big = torch.tensor([1e4, -1e4])
    for name in ("minimax", "nonsaturating", "relativistic"):
        loss = GAN_LOSSES[name]
        assert torch.isfinite(loss.d_loss(big, -big)) and torch.isfinite(loss.g_loss(-big, big))


def test_saturation_minimax_vs_nonsaturating_gradient():
    """At a confidently rejected fake (l_f = -8) the minimax G gradient vanishes (≈ -σ(-8)); NS gives ≈ -1."""
    grads = {}
    for name in ("minimax", "nonsaturating"):
        l_f = torch.tensor([-8.0], dtype=torch.float64, requires_grad=True)
        GAN_LOSSES[name].g_loss(l_f, torch.zeros(1)).backward()
        grads[name] = l_f.grad.item()
    sigma = 1 / (1 + math.exp(8))
    assert grads["minimax"] == pytest.approx(-sigma, rel=1e-9)
    assert abs(grads["minimax"]) < 4e-4
    assert grads["nonsaturating"] == pytest.approx(-(1 - sigma), rel=1e-9)


def test_alpha_generator_term_is_negative_logit():
    l_f = torch.tensor([0.5, -1.5])
    p = torch.sigmoid(l_f)
    assert alpha_g(l_f, None).item() == pytest.approx(-torch.log(p / (1 - p)).mean().item(), abs=1e-6)


def test_gradient_penalty_zero_for_unit_linear_critic():
    torch.manual_seed(0)
    w = torch.randn(1, 3, 8, 8, dtype=torch.float64)
    w = w / w.norm()

    def critic(x):  # 1-Lipschitz, gradient norm exactly 1 everywhere
        return (x * w).flatten(1).sum(1).reshape(-1, 1, 1, 1)

    real, fake = torch.randn(4, 3, 8, 8, dtype=torch.float64), torch.randn(4, 3, 8, 8, dtype=torch.float64)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(0.0, abs=1e-12)

    def steep(x):  # gradient norm 3 everywhere → penalty (3 - 1)² = 4
        return 3 * critic(x)

    assert gradient_penalty(steep, real, fake).item() == pytest.approx(4.0, rel=1e-9)


def test_gradient_penalty_trains_the_critic():
    lin = torch.nn.Linear(12, 1).double()
    critic = lambda x: lin(x.flatten(1)).reshape(-1, 1, 1, 1)  # noqa: E731
    gp = gradient_penalty(critic, torch.randn(3, 12, dtype=torch.float64), torch.randn(3, 12, dtype=torch.float64))
    assert gp.item() > 0
    gp.backward()  # needs create_graph=True inside: the penalty's gradient reaches the critic's weights
    assert lin.weight.grad is not None and lin.weight.grad.abs().sum() > 0


def test_r1_penalty_value_for_linear_critic():
    w = torch.full((1, 2, 4, 4), 0.5, dtype=torch.float64)  # ‖w‖² = 32 · 0.25 = 8
    critic = lambda x: (x * w).flatten(1).sum(1).reshape(-1, 1, 1, 1)  # noqa: E731
    assert r1_penalty(critic, torch.randn(3, 2, 4, 4, dtype=torch.float64)).item() == pytest.approx(8.0)


def test_gradcheck_losses_float64():
    l_r = torch.randn(2, 1, 3, 3, dtype=torch.float64)
    for loss in GAN_LOSSES.values():
        l_f = torch.randn(2, 1, 3, 3, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda f: loss.g_loss(f, l_r), (l_f,))
        assert torch.autograd.gradcheck(lambda f: loss.d_loss(l_r, f), (l_f,))


def test_explicit_terms():
    a = torch.tensor([[0.0, 1.0], [2.0, -1.0]])
    b = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    assert l1(a, b).item() == pytest.approx((1 + 0 + 2 + 1) / 4)
    assert l2(a, b).item() == pytest.approx((1 + 0 + 4 + 1) / 4)
