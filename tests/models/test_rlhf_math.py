"""The RL math of InstructGPT against hand-worked values: GAE, the reward model's pairwise loss,
PPO's clipped objectives, the KL penalty, the KL controller, DPO's loss."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad_models.instructgpt.dpo import dpo_loss
from minigrad_models.instructgpt.ppo import (AdaptiveKLController, FixedKLController, gae, kl_penalized_rewards,
                                    ppo_policy_loss, ppo_value_loss, whiten)
from minigrad_models.instructgpt.reward import log_sigmoid, pairwise_loss


def softplus(x):
    return math.log1p(math.exp(x))


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


# -- GAE ---------------------------------------------------------------------------------------------
def test_gae_hand_worked_with_padding():
    # row 0: three tokens, reward only at the end; row 1: two tokens, then padding (junk values)
    rewards = np.array([[0.0, 0.0, 1.0], [0.2, 0.5, 99.0]])
    values = np.array([[0.5, 0.6, 0.7], [0.1, 0.3, 42.0]])
    mask = np.array([[1, 1, 1], [1, 1, 0]], dtype=float)
    adv, ret = gae(rewards, values, mask, gamma=1.0, lam=0.5)
    # row 0: delta_2 = 1 - 0.7 = 0.3; delta_1 = 0.7 - 0.6 = 0.1; delta_0 = 0.6 - 0.5 = 0.1
    #        A_2 = 0.3, A_1 = 0.1 + 0.5 * 0.3 = 0.25, A_0 = 0.1 + 0.5 * 0.25 = 0.225
    # row 1: the episode ends after token 1, so V(s_2) = 0:
    #        delta_1 = 0.5 - 0.3 = 0.2, delta_0 = 0.2 + 0.3 - 0.1 = 0.4, A_0 = 0.4 + 0.5 * 0.2 = 0.5
    np.testing.assert_allclose(adv, [[0.225, 0.25, 0.3], [0.5, 0.2, 0.0]], atol=1e-12)
    np.testing.assert_allclose(ret, [[0.725, 0.85, 1.0], [0.6, 0.5, 0.0]], atol=1e-12)


def test_gae_discounted_and_monte_carlo_limit():
    rewards, values, mask = np.array([[1.0, 2.0]]), np.array([[0.5, 1.0]]), np.ones((1, 2))
    adv, ret = gae(rewards, values, mask, gamma=0.9, lam=0.95)
    # delta_1 = 2 - 1 = 1; delta_0 = 1 + 0.9 * 1 - 0.5 = 1.4; A_0 = 1.4 + 0.9 * 0.95 * 1 = 2.255
    np.testing.assert_allclose(adv, [[2.255, 1.0]], atol=1e-12)
    np.testing.assert_allclose(ret, [[2.755, 2.0]], atol=1e-12)
    # lambda = 1: the returns are the discounted sums of rewards, whatever the values
    _, ret = gae(rewards, np.array([[7.0, -3.0]]), mask, gamma=0.9, lam=1.0)
    np.testing.assert_allclose(ret, [[1 + 0.9 * 2, 2.0]], atol=1e-12)


def test_whiten_masked_mean_zero_std_one():
    x = np.array([[1.0, 2.0, 3.0, 100.0], [4.0, 5.0, -50.0, 7.0]])
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], dtype=float)
    w = whiten(x, mask)
    kept = w[mask > 0]
    assert kept.mean() == pytest.approx(0.0, abs=1e-9) and kept.std() == pytest.approx(1.0, abs=1e-6)
    assert np.all(w[mask == 0] == 0)
    np.testing.assert_allclose(kept, (np.array([1, 2, 3, 4, 5]) - 3) / np.sqrt(2), rtol=1e-6)


# -- the KL penalty ------------------------------------------------------------------------------------
def test_kl_penalty_sign_and_reward_at_last_token():
    # token 0: the policy likes it more than SFT (log ratio +1) -> penalised;
    # token 1: less than SFT (log ratio -0.5) -> rewarded; token 2 is padding
    scores = np.array([2.0])
    logprobs = np.array([[-1.0, -3.0, 0.0]])
    ref = np.array([[-2.0, -2.5, -9.0]])
    mask = np.array([[1.0, 1.0, 0.0]])
    rewards, kl = kl_penalized_rewards(scores, logprobs, ref, mask, beta=0.1)
    np.testing.assert_allclose(kl, [[1.0, -0.5, 0.0]])
    np.testing.assert_allclose(rewards, [[-0.1, 0.05 + 2.0, 0.0]])
    assert rewards[0, 0] < 0  # making a token likelier than the reference costs reward
    # more beta, more penalty; the sum is the score minus beta times the sequence KL estimate
    r2, _ = kl_penalized_rewards(scores, logprobs, ref, mask, beta=0.2)
    assert r2[0, 0] < rewards[0, 0]
    assert rewards.sum() == pytest.approx(2.0 - 0.1 * (1.0 - 0.5))


def test_kl_controllers():
    fixed = FixedKLController(0.02)
    fixed.update(100.0, 64)
    assert fixed.value == 0.02
    ctl = AdaptiveKLController(0.1, target=1.0, horizon=100)
    ctl.update(2.0, 10)          # KL twice the target: error clipped to +0.2
    assert ctl.value == pytest.approx(0.1 * (1 + 0.2 * 10 / 100))
    ctl = AdaptiveKLController(0.1, target=1.0, horizon=100)
    ctl.update(0.9, 10)          # error -0.1, not clipped
    assert ctl.value == pytest.approx(0.1 * (1 - 0.1 * 10 / 100))


# -- PPO's clipped objectives ------------------------------------------------------------------------------
def test_ppo_clip_gives_exactly_zero_gradient_where_clipped():
    ratio = np.array([[0.5, 1.0, 1.5, 0.7, 1.3, 2.0]])
    adv = np.array([[1.0, 1.0, 1.0, -1.0, -1.0, 5.0]])
    mask = np.array([[1, 1, 1, 1, 1, 0]], dtype=np.float32)      # the last one is padding
    old = np.array([[-1.0, -2.0, -0.5, -3.0, -1.5, -1.0]])
    logprobs = mg.tensor((old + np.log(ratio)).astype(np.float32), requires_grad=True)
    loss, clip_fraction = ppo_policy_loss(logprobs, old, adv, mask, clip_eps=0.2)
    # objective per token: min(rho A, clip(rho) A)
    #   0.5, A=+1 -> min(0.5, 0.8) = 0.5 unclipped      1.0 -> 1.0 unclipped
    #   1.5, A=+1 -> min(1.5, 1.2) = 1.2 CLIPPED        0.7, A=-1 -> min(-0.7, -0.8) = -0.8 CLIPPED
    #   1.3, A=-1 -> min(-1.3, -1.2) = -1.3 unclipped
    assert loss.item() == pytest.approx(-(0.5 + 1.0 + 1.2 - 0.8 - 1.3) / 5, rel=1e-6)
    assert clip_fraction == pytest.approx(2 / 5)
    loss.backward()
    g = logprobs.grad.numpy()[0]
    # d/dlogp of -rho A / n is -rho A / n where unclipped; exactly zero where clipped or padded
    np.testing.assert_allclose(g[[0, 1, 4]], [-0.5 / 5, -1.0 / 5, 1.3 / 5], rtol=1e-5)
    assert g[2] == 0.0 and g[3] == 0.0 and g[5] == 0.0


def test_ppo_value_loss_clipped():
    values = mg.tensor(np.array([[1.0, 0.5, 0.0]], dtype=np.float32), requires_grad=True)
    old = np.array([[0.0, 0.4, 0.0]])
    returns = np.array([[2.0, 0.0, 5.0]])
    mask = np.array([[1.0, 1.0, 0.0]])
    loss, frac = ppo_value_loss(values, old, returns, mask, clip_eps=0.2)
    # token 0: V moved 1.0 from V_old, clipped to 0.2; errors (1 - 2)^2 = 1, (0.2 - 2)^2 = 3.24 -> 3.24
    # token 1: moved 0.1, inside the clip range: (0.5 - 0)^2 = 0.25 both ways
    assert loss.item() == pytest.approx(0.5 * (3.24 + 0.25) / 2, rel=1e-6)
    assert frac == pytest.approx(0.5)
    loss.backward()
    # the clipped branch is constant in V at token 0 -> zero gradient; token 1: (V - R) / n
    np.testing.assert_allclose(values.grad.numpy(), [[0.0, 0.5 / 2, 0.0]], atol=1e-7)


# -- the reward model's loss --------------------------------------------------------------------------------
def test_pairwise_loss_and_gradient_hand_computed():
    # prompt 0: three responses ranked 0 > 1 > 2 (all three pairs); prompt 1: response 4 beats 3
    r = mg.tensor(np.array([2.0, 0.5, -1.0, 0.0, 1.0], dtype=np.float32), requires_grad=True)
    winners, losers, owner = [0, 0, 1, 4], [1, 2, 2, 3], [0, 0, 0, 1]
    loss, accuracy = pairwise_loss(r, winners, losers, owner)
    # prompt 0: margins 1.5, 3, 1.5, mean of -log sigma; prompt 1: margin 1; then the mean of the two
    p0 = (2 * softplus(-1.5) + softplus(-3.0)) / 3
    p1 = softplus(-1.0)
    assert loss.item() == pytest.approx((p0 + p1) / 2, rel=1e-6)
    assert accuracy == 1.0
    loss.backward()
    # d(-log sigma(m))/dm = -sigma(-m); each prompt's pairs weigh 1/(pairs * prompts)
    s15, s3, s1 = sigmoid(-1.5), sigmoid(-3.0), sigmoid(-1.0)
    expected = [-(s15 + s3) / 6, (s15 - s15) / 6, (s3 + s15) / 6, s1 / 2, -s1 / 2]
    np.testing.assert_allclose(r.grad.numpy(), expected, rtol=1e-5, atol=1e-7)


def test_log_sigmoid_is_stable_and_its_gradient_is_right_at_zero():
    x = mg.tensor(np.array([-200.0, -1.0, 0.0, 3.0, 200.0], dtype=np.float32), requires_grad=True)
    y = log_sigmoid(x)
    want = [-200.0, -softplus(1.0), -math.log(2), -softplus(-3.0), 0.0]
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-6, atol=1e-7)
    y.sum().backward()
    # d log sigma(x) / dx = sigma(-x): 1/2 at x = 0, where DPO and a fresh reward model start
    np.testing.assert_allclose(x.grad.numpy(), [1.0, sigmoid(1.0), 0.5, sigmoid(-3.0), 0.0], rtol=1e-6, atol=1e-7)


# -- DPO -------------------------------------------------------------------------------------------------
def test_dpo_loss_and_gradient_hand_computed():
    pc = mg.tensor(np.array([-3.0, -6.0], dtype=np.float32), requires_grad=True)   # log pi(y_w)
    pr = mg.tensor(np.array([-5.0, -2.0], dtype=np.float32), requires_grad=True)   # log pi(y_l)
    ref_c, ref_r = np.array([-4.0, -5.0]), np.array([-4.0, -3.0])
    loss, accuracy, rw, rl = dpo_loss(pc, pr, ref_c, ref_r, beta=0.5)
    # pair 0: 0.5 * ((-3 + 4) - (-5 + 4)) = 1; pair 1: 0.5 * ((-6 + 5) - (-2 + 3)) = -1
    assert loss.item() == pytest.approx((softplus(-1.0) + softplus(1.0)) / 2, rel=1e-6)
    assert accuracy == 0.5
    np.testing.assert_allclose(rw, [0.5, -0.5]) and np.testing.assert_allclose(rl, [-0.5, 0.5])
    loss.backward()
    # dL/dlog pi(y_w) = -beta sigma(-m) / N, and the opposite for y_l
    g = [-0.5 * sigmoid(-1.0) / 2, -0.5 * sigmoid(1.0) / 2]
    np.testing.assert_allclose(pc.grad.numpy(), g, rtol=1e-5)
    np.testing.assert_allclose(pr.grad.numpy(), [-v for v in g], rtol=1e-5)


def test_dpo_at_the_reference_is_log_2_and_still_learns():
    lp = mg.tensor(np.array([-3.0, -7.0], dtype=np.float32), requires_grad=True)
    loss, *_ = dpo_loss(lp[:1], lp[1:], np.array([-3.0]), np.array([-7.0]), beta=0.1)
    assert loss.item() == pytest.approx(math.log(2), rel=1e-6)
    loss.backward()
    # the first step from policy = reference: -beta sigma(0) = -0.05 for y_w, +0.05 for y_l
    np.testing.assert_allclose(lp.grad.numpy(), [-0.05, 0.05], rtol=1e-6)


def test_win_rate_counts_ties_as_half():
    from minigrad_models.instructgpt.evaluate import win_rate

    # wins, a tie, a loss, a tie: (1 + 0.5 + 0 + 0.5) / 4
    assert win_rate([1.0, 0.5, 0.2, 1.05], [0.5, 0.5, 0.9, 1.05]) == pytest.approx(0.5)
    assert win_rate([1.0, 1.0], [0.0, 0.0]) == 1.0 and win_rate([0.0], [1.0]) == 0.0
