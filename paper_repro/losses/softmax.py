from paper_repro.losses import compiled, functional
from paper_repro.losses.base import MarginHead


class SoftmaxHead(MarginHead):
    """Plain softmax cross-entropy on W x (no bias): the baseline of every table."""

    key, title = "softmax", "softmax"
    reference_logits = staticmethod(functional.softmax_logits)

    def target(self, dot, x_norm, w_norm):
        return functional.softmax_target(dot, x_norm, w_norm)

    @property
    def partials(self):
        return functional.softmax_partials

    def forward(self, features, labels):
        if self.compile_math and compiled.compiler_found():
            # one compiled call for loss, gradients and value checks: faster than PyTorch's
            # kernels plus the checks' separate reductions (eagerly, the opposite holds)
            return super().forward(features, labels)
        return functional.softmax_cross_entropy(features, self.weight, labels)
