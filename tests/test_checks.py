"""vae_course.checks: right answers pass, stubs and wrong answers fail with a message that says what is off.

The "learner answers" below are written here, each in its own way (scipy, a closed form, a loop), so
that a check whose reference is wrong fails on the right answer.
"""

import ast
import functools
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import linalg, stats

from vae_course import checks


def stub(*args):
    raise NotImplementedError("Exercise: write your solution here")


# ---------------------------------------------------------------------------------------------
# Right answers, written as a learner might


def normal_pdf_centred(x, sigma):
    return np.exp(-np.square(x) / (2 * sigma * sigma)) / math.sqrt(2 * math.pi * sigma * sigma)


def normal_pdf(x, mu, sigma):
    return normal_pdf_centred(np.asarray(x) - mu, sigma)


def mvn_logpdf(x, mu, cov):
    chol = np.linalg.cholesky(cov)
    white = np.linalg.solve(chol, x - mu)
    return -0.5 * len(x) * math.log(2 * math.pi) - np.log(np.diag(chol)).sum() - 0.5 * white @ white


def kl_discrete(p, q):
    total = 0.0
    for p_i, q_i in zip(p, q):
        if p_i == 0:
            continue
        if q_i == 0:
            return math.inf
        total += p_i * math.log(p_i / q_i)
    return total


def kl_bernoulli(a, b):
    return stats.entropy([a, 1 - a], [b, 1 - b])


def kl_normal_1d(mu1, sigma1, mu2, sigma2):
    # as cross-entropy minus entropy: H(p, q) - H(p)
    cross = math.log(sigma2 * math.sqrt(2 * math.pi)) + (sigma1**2 + (mu1 - mu2) ** 2) / (2 * sigma2**2)
    return cross - stats.norm(mu1, sigma1).entropy()


def kl_mvn(mu1, cov1, mu2, cov2):
    inv2, diff = np.linalg.inv(cov2), mu2 - mu1
    _, logdet1 = np.linalg.slogdet(cov1)
    _, logdet2 = np.linalg.slogdet(cov2)
    return 0.5 * (logdet2 - logdet1 - len(mu1) + np.sum(inv2 * cov1.T) + diff @ inv2 @ diff)


def kl_diag_std_normal(mu, logvar):
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)  # pytorch/examples' form


def reparameterize(mu, logvar, eps):
    return torch.addcmul(mu, torch.exp(0.5 * logvar), eps)


def kl_uniform_std_normal(a):
    # as cross-entropy minus entropy: H(p, q) = log(2 pi) / 2 + E[x^2] / 2, H(p) = log(2a)
    return 0.5 * math.log(2 * math.pi) + a * a / 6 - stats.uniform(-a, 2 * a).entropy()


def _complex_step(f, args, i, h=1e-30):
    """df/d args[i] by the complex step Im f(x + ih) / h: exact to rounding, no subtraction."""
    shifted = [complex(v) for v in args]
    shifted[i] += 1j * h
    return f(*shifted).imag / h


def _kl_normal_complex(mu1, sigma1, mu2, sigma2):
    return np.log(sigma2 / sigma1) + (sigma1**2 + (mu1 - mu2) ** 2) / (2 * sigma2**2) - 0.5


def grad_mu1(mu1, sigma1, mu2, sigma2):
    return _complex_step(_kl_normal_complex, (mu1, sigma1, mu2, sigma2), 0)


def grad_sigma1(mu1, sigma1, mu2, sigma2):
    return _complex_step(_kl_normal_complex, (mu1, sigma1, mu2, sigma2), 1)


def kl_normal_from_logvar(mu, logvar):
    sigma = np.sqrt(np.exp(logvar))
    return -np.log(sigma) + (sigma**2 + np.square(mu)) / 2 - 0.5


def kl_same_cov(mu1, mu2, cov):
    white = linalg.solve_triangular(np.linalg.cholesky(cov), mu2 - mu1, lower=True)
    return 0.5 * float(white @ white)


def kl_per_dimension(mu, logvar):
    return torch.stack([kl_diag_std_normal(mu[:, [d]], logvar[:, [d]]).mean() for d in range(mu.shape[1])])


RIGHT = [(checks.check_normal_pdf, normal_pdf_centred), (checks.check_normal_pdf, normal_pdf),
         (checks.check_mvn_logpdf, mvn_logpdf), (checks.check_kl_discrete, kl_discrete),
         (checks.check_kl_bernoulli, kl_bernoulli), (checks.check_kl_normal_1d, kl_normal_1d),
         (checks.check_kl_mvn, kl_mvn), (checks.check_kl_diag_std_normal, kl_diag_std_normal),
         (checks.check_reparameterize, reparameterize),
         (checks.check_kl_uniform_std_normal, kl_uniform_std_normal),
         (checks.check_kl_normal_1d_grad_mu1, grad_mu1), (checks.check_kl_normal_1d_grad_sigma1, grad_sigma1),
         (checks.check_kl_normal_from_logvar, kl_normal_from_logvar), (checks.check_kl_same_cov, kl_same_cov),
         (checks.check_kl_per_dimension, kl_per_dimension)]
IDS = [f"{check.__name__}-{fn.__name__}" for check, fn in RIGHT]


@pytest.mark.parametrize(("check", "fn"), RIGHT, ids=IDS)
def test_right_answer_passes_and_says_so(check, fn, capsys):
    check(fn)
    assert f"{fn.__name__}: correct on all" in capsys.readouterr().out


@pytest.mark.parametrize(("check", "fn"), RIGHT, ids=IDS)
def test_stub_is_told_to_replace_the_stub(check, fn):
    def centred_stub(x, sigma):  # check_normal_pdf reads the number of arguments
        raise NotImplementedError("Exercise: write your solution here")

    with pytest.raises(AssertionError, match="NotImplementedError: replace the stub"):
        check(centred_stub if fn is normal_pdf_centred else stub)


@pytest.mark.parametrize(("check", "fn"), RIGHT, ids=IDS)
def test_a_slightly_wrong_answer_fails_with_input_expected_got(check, fn):
    @functools.wraps(fn)  # keeps fn's signature, which check_normal_pdf reads
    def off(*args):
        return fn(*args) * 1.01 + 0.01

    with pytest.raises(AssertionError) as failure:
        check(off)
    message = str(failure.value)
    assert "gives a wrong result" in message
    for field in ("input:", "expected:", "got:", "hint:"):
        assert field in message, f"{field} missing from:\n{message}"


# ---------------------------------------------------------------------------------------------
# The usual mistakes are named


MISTAKES = [
    (checks.check_normal_pdf, lambda x, s: np.exp(np.square(x) / (2 * s**2)) / (s * math.sqrt(2 * math.pi)),
     "minus sign"),
    (checks.check_normal_pdf, lambda x, m, s: np.exp(-np.square(np.asarray(x) - m) / (2 * s)) / (s * math.sqrt(2 * math.pi)),
     "sigma was used where sigma^2"),
    (checks.check_mvn_logpdf, lambda x, m, c: -0.5 * math.log(2 * math.pi * np.linalg.det(c))
     - 0.5 * (x - m) @ np.linalg.inv(c) @ (x - m), "normalizer"),
    (checks.check_kl_discrete, lambda p, q: kl_discrete(q, p), "swapped"),
    (checks.check_kl_discrete, lambda p, q: kl_discrete(p, q) / math.log(2), "bits"),
    (checks.check_kl_bernoulli, lambda a, b: kl_bernoulli(b, a), "swapped"),
    (checks.check_kl_bernoulli, lambda a, b: a * math.log(a / b), "tails term"),
    (checks.check_kl_normal_1d, lambda m1, s1, m2, s2: kl_normal_1d(m2, s2, m1, s1), "swapped"),
    (checks.check_kl_normal_1d, lambda m1, s1, m2, s2: kl_normal_1d(m1, math.sqrt(s1), m2, math.sqrt(s2)), "variance"),
    (checks.check_kl_normal_1d, lambda m1, s1, m2, s2: kl_normal_1d(m1, s1, m2, s2) + 0.5, "-1/2"),
    (checks.check_kl_mvn, lambda m1, c1, m2, c2: kl_mvn(m2, c2, m1, c1), "swapped"),
    (checks.check_kl_mvn, lambda m1, c1, m2, c2: kl_mvn(m1, c1, m2, c2) - 0.5 * (m2 - m1) @ np.linalg.solve(c2, m2 - m1)
     + 0.5 * (m2 - m1) @ np.linalg.solve(c1, m2 - m1), "cov1^-1"),
    (checks.check_kl_diag_std_normal, lambda mu, lv: 0.5 * (mu**2 + (2 * lv).exp() - 2 * lv - 1).sum(-1), "log sigma"),
    (checks.check_kl_diag_std_normal, lambda mu, lv: kl_diag_std_normal(mu, lv) / mu.shape[-1], "averaged"),
    (checks.check_reparameterize, lambda mu, lv, eps: mu + lv.exp() * eps, "variance"),
    (checks.check_reparameterize, lambda mu, lv, eps: mu + lv * eps, "logvar was used as sigma"),
    (checks.check_kl_uniform_std_normal, lambda a: kl_uniform_std_normal(a) + a * a / 6, "1/2 of the Gaussian"),
    (checks.check_kl_uniform_std_normal, lambda a: kl_uniform_std_normal(a) + math.log(2), "width 2a"),
    (checks.check_kl_normal_1d_grad_mu1, lambda m1, s1, m2, s2: -grad_mu1(m1, s1, m2, s2), "sign is flipped"),
    (checks.check_kl_normal_1d_grad_mu1, lambda m1, s1, m2, s2: (m1 - m2) / s1**2, "not sigma1^2"),
    (checks.check_kl_normal_1d_grad_sigma1, lambda m1, s1, m2, s2: grad_sigma1(m1, s1, m2, s2) + 1 / s1,
     "-1 / sigma1, is missing"),
    (checks.check_kl_normal_from_logvar, lambda mu, lv: kl_normal_from_logvar(mu, 2 * np.asarray(lv)), "log sigma"),
    (checks.check_kl_same_cov, lambda m1, m2, c: 0.5 * (m2 - m1) @ c @ (m2 - m1), "not cov"),
    (checks.check_kl_per_dimension, lambda mu, lv: kl_per_dimension(mu, lv) * mu.shape[0], "rows were summed"),
]


@pytest.mark.parametrize(("check", "wrong", "named"), MISTAKES, ids=[f"{c.__name__}-{n}" for c, _, n in MISTAKES])
def test_a_usual_mistake_is_named(check, wrong, named):
    with pytest.raises(AssertionError, match=r"(?s)likely: .*" + re.escape(named)):
        check(wrong)


def test_swapped_kl_message_gives_the_input_and_both_values():
    with pytest.raises(AssertionError) as failure:
        checks.check_kl_normal_1d(lambda m1, s1, m2, s2: kl_normal_1d(m2, s2, m1, s1))
    message = str(failure.value)
    # the first input where the two directions differ is (0, 2, 0, 1): KL = log(1/2) + 4/2 - 1/2 = 0.806853
    assert "mu1=0.0, sigma1=2.0, mu2=0.0, sigma2=1.0" in message
    assert f"expected: {1.5 - math.log(2):.10g}" in message
    assert f"got:      {math.log(2) + 0.125 - 0.5:.10g}" in message


# ---------------------------------------------------------------------------------------------
# Shapes, types, gradients, None, errors


def test_kl_mvn_hands_tensors_over_on_request(capsys):
    def kl_mvn_torch(mu1, cov1, mu2, cov2):
        assert all(isinstance(t, torch.Tensor) and t.dtype == torch.float64 for t in (mu1, cov1, mu2, cov2))
        p = torch.distributions.MultivariateNormal(mu1, scale_tril=torch.linalg.cholesky(cov1))
        q = torch.distributions.MultivariateNormal(mu2, scale_tril=torch.linalg.cholesky(cov2))
        return torch.distributions.kl_divergence(p, q)

    checks.check_kl_mvn(kl_mvn_torch, tensors=True)
    assert "kl_mvn_torch: correct on all 4 inputs" in capsys.readouterr().out
    with pytest.raises(AssertionError, match=r"kl_mvn_torch\(mu1=.*\) raised AssertionError"):
        checks.check_kl_mvn(kl_mvn_torch)  # NumPy arrays by default


def test_kl_diag_must_return_a_tensor_not_numpy():
    with pytest.raises(AssertionError, match="expected a torch.Tensor"):
        checks.check_kl_diag_std_normal(lambda mu, lv: kl_diag_std_normal(mu, lv).numpy())


def test_kl_diag_must_keep_one_value_per_row():
    with pytest.raises(AssertionError, match=r"the shape is \(\), expected \(2,\)"):
        checks.check_kl_diag_std_normal(lambda mu, lv: kl_diag_std_normal(mu, lv).sum())


def test_kl_diag_that_cuts_the_gradient_fails_on_the_gradient():
    def detached(mu, logvar):
        return kl_diag_std_normal(mu.detach(), logvar.detach())

    with pytest.raises(AssertionError, match="backpropagating through the result failed"):
        checks.check_kl_diag_std_normal(detached)


def test_a_wrong_gradient_is_reported_with_its_values():
    class WrongGrad(torch.autograd.Function):  # right values, gradient with respect to mu doubled
        @staticmethod
        def forward(ctx, mu):
            ctx.save_for_backward(mu)
            return 0.5 * mu**2

        @staticmethod
        def backward(ctx, grad):
            (mu,) = ctx.saved_tensors
            return grad * 2 * mu

    def kl(mu, logvar):
        return (WrongGrad.apply(mu) + 0.5 * (logvar.exp() - logvar - 1)).sum(-1)

    with pytest.raises(AssertionError, match="gradient of the summed result with respect to mu is wrong"):
        checks.check_kl_diag_std_normal(kl)


def test_reparameterize_that_detaches_sigma_is_caught():
    with pytest.raises(AssertionError, match="with respect to logvar is wrong"):
        checks.check_reparameterize(lambda mu, lv, eps: mu + torch.exp(0.5 * lv).detach() * eps)


def test_forgotten_return_is_named():
    def no_return(mu1, sigma1, mu2, sigma2):
        kl_normal_1d(mu1, sigma1, mu2, sigma2)

    with pytest.raises(AssertionError, match="returned None: did you forget `return`"):
        checks.check_kl_normal_1d(no_return)


def test_nan_is_explained():
    with pytest.raises(AssertionError, match=r"(?s)p=\[0.5, 0.5, 0. \].*contains NaN.*0 \* log\(0\)"), \
            np.errstate(divide="ignore", invalid="ignore"):
        checks.check_kl_discrete(lambda p, q: float(np.sum(p * np.log(p / q))))


def test_an_error_in_the_learner_code_names_the_call_and_the_error():
    def broken(mu1, sigma1, mu2, sigma2):
        return math.log(sigma2 / sigma1) + undefined_name  # noqa: F821

    with pytest.raises(AssertionError, match=r"broken\(mu1=0.0, .*\) raised NameError: .*undefined_name"):
        checks.check_kl_normal_1d(broken)


def test_a_function_that_changes_its_inputs_in_place_does_not_fool_the_reference():
    def in_place(p, q):
        out = kl_discrete(p, q)
        p[:] = q  # the reference must still see the original p
        return out

    checks.check_kl_discrete(in_place)


def test_normal_pdf_reads_the_form_from_the_number_of_arguments():
    with pytest.raises(AssertionError, match=r"input:    x=0.0, sigma=1.0\n"):
        checks.check_normal_pdf(lambda x, sigma: normal_pdf_centred(x, 2 * sigma))
    with pytest.raises(AssertionError, match=r"input:    x=\[.*\], mu=1.5, sigma=1.0\n"):
        checks.check_normal_pdf(lambda x, mu, sigma: normal_pdf_centred(x, sigma))  # ignores mu


def test_kl_per_dimension_must_keep_one_value_per_dimension():
    with pytest.raises(AssertionError, match=r"the shape is \(\), expected \(3,\)"):
        checks.check_kl_per_dimension(lambda mu, lv: kl_per_dimension(mu, lv).sum())


@pytest.mark.parametrize("check", [checks.check_kl_normal_1d, checks.check_kl_diag_std_normal, checks.check_normal_pdf])
def test_passing_a_result_instead_of_a_function_is_a_value_error(check):
    with pytest.raises(ValueError, match="fn must be a function .*got float"):
        check(0.5)


def test_checks_do_not_use_the_module_the_lessons_teach():
    tree = ast.parse(Path(checks.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not {m for m in imported if m == "kl" or m.endswith(".kl") or m.startswith("vae_course")}, imported
