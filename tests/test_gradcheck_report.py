"""gradcheck's failure report names the worst Jacobian entry: which input and output, the element
indices, the analytical and numerical values and the errors; gradgradcheck's says it checked the
gradient. The values in the report are checked against the Jacobians computed here."""
import re

import numpy as np
import pytest

import ember
from ember.autograd import Function, GradcheckError
from test_autograd import WrongCube  # x^3 with the derivative 2x^2: wrong on purpose

X = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])


def two_outputs(x):
    return x * x, WrongCube.apply(x)


def report_values(message):
    def number(label):
        return float(re.search(label + r"\s+(\S+)", message).group(1))
    return number(r"analytical \(backward\)"), number(r"numerical \(central diff\)")


def test_report_names_the_worst_entry_with_its_values_and_errors():
    x = ember.tensor(X, requires_grad=True)
    with pytest.raises(GradcheckError) as info:
        ember.autograd.gradcheck(two_outputs, (x,))
    message = str(info.value)
    worst = tuple(int(i) for i in np.unravel_index(np.argmax(np.abs(X) ** 2), X.shape))  # |x^2| largest
    assert message.splitlines()[0] == "gradcheck: Jacobian mismatch for input 0 (shape (2, 3), float64)"
    assert f"worst entry: output 1 element {worst}, with respect to input element {worst}" in message
    analytical, numerical = report_values(message)
    assert analytical == pytest.approx(2 * X[worst] ** 2, rel=1e-9)
    assert numerical == pytest.approx(3 * X[worst] ** 2, rel=1e-6)
    error = abs(analytical - numerical)
    assert re.search(r"abs error (\S+), rel error (\S+);", message).groups() == (
        f"{error:.3g}", f"{error / abs(numerical):.3g}")
    wrong = int(np.sum(np.abs(X) > 0))  # every diagonal entry of output 1's Jacobian is off
    assert f"{wrong} of {2 * X.size * X.size} entries of this Jacobian are outside the tolerance" in message


def test_gradgradcheck_report_says_it_is_the_gradient():
    class ConstantSlope(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(3 * x * x)  # a constant to the graph: the second derivative is lost
            return x ** 3

        @staticmethod
        def backward(ctx, grad):
            slope, = ctx.saved_tensors
            return grad * slope

    x = ember.tensor(X, requires_grad=True)
    with pytest.raises(GradcheckError) as info:
        ember.autograd.gradgradcheck(ConstantSlope.apply, (x,))
    message = str(info.value)
    assert message.startswith("gradgradcheck: Jacobian mismatch for input 0")
    assert "worst entry: the gradient of input 0 element" in message
    assert ember.autograd.gradgradcheck(ConstantSlope.apply, (x,), raise_exception=False) is False
    unused = ember.tensor(X, requires_grad=True)  # its gradient is zero: the wrong one is still input 1's
    with pytest.raises(GradcheckError, match="worst entry: the gradient of input 1 element"):
        ember.autograd.gradgradcheck(lambda u, v: ConstantSlope.apply(v), (unused, x))
