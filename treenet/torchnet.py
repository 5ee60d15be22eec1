"""A network as a PyTorch module, and back: `to_torch(net)` and `from_torch(module)`.

The module's forward pass is the source `treenet.arrayfn` writes from the network's IR, run on
torch tensors; its gradients are torch's autograd of that code, which the templates make follow
treenet's kink conventions. Its parameters are the network's, one 0-d `torch.nn.Parameter` each,
registered under the network's names in its order (`module.named_parameters()`), so the module
moves with `.to(device)` and `.to(torch.float32)` and works with any optimizer, `torch.compile`
and `DistributedDataParallel`. `from_torch` rebuilds the exported network node for node with the
module's current values (float64 values come back bit for bit).

PyTorch is an optional extra (`pip install treenet[torch]`): it is imported on the first call,
never by `import treenet`."""

from .arrayfn import Export
from .errors import TreenetError

EXTRA = "pip install 'treenet[torch]'"


def _torch(call):
    """The torch module, or a TreenetError naming the extra to install."""
    try:
        import torch
    except ImportError as exc:
        raise TreenetError(f"{call} needs PyTorch, an optional extra of treenet: "
                           f"{EXTRA}") from exc
    return torch


def to_torch(net, dtype=None):
    """The network as a `torch.nn.Module`: forward(X) takes a tensor of shape (n, n_inputs) in
    `net.inputs` order (or (..., n_inputs)) and returns (n,) or (n, k); its parameters are the
    network's, named as in treenet, of `dtype` (default torch.float64)."""
    torch = _torch("to_torch")
    dtype = torch.float64 if dtype is None else dtype
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TreenetError(f"to_torch: dtype is {dtype!r}; expected a floating torch dtype "
                           "such as torch.float64 or torch.float32")
    return _module_class(torch)(Export(net, "to_torch(network)"), dtype)


def from_torch(module):
    """A new treenet network from a module made by `to_torch` (also inside
    DistributedDataParallel or torch.compile): the exported network's structure, inputs and
    parameter order, with the module's current parameter values."""
    torch = _torch("from_torch")
    cls, inner = _module_class(torch), module
    for _ in range(4):  # DistributedDataParallel's .module, torch.compile's ._orig_mod, nested
        if isinstance(inner, cls) or not isinstance(inner, torch.nn.Module):
            break
        wrapped = getattr(inner, "_orig_mod", None)
        inner = wrapped if wrapped is not None else getattr(inner, "module", None)
    if not isinstance(inner, cls):
        raise TreenetError(f"from_torch takes a module made by treenet.to_torch, got "
                           f"{type(module).__name__}")
    export = inner._treenet_export
    values = []
    for name in export.parameter_names:
        t = inner._parameters.get(name)
        if t is None or t.dim() != 0:
            what = "is missing" if t is None else f"has shape {tuple(t.shape)}"
            raise TreenetError(f"from_torch: the module's parameter {name!r} {what}; expected "
                               "one number per treenet parameter")
        # float64 holds every float dtype's values exactly: .item() of it is the same number
        values.append(t.detach().to(device="cpu", dtype=torch.float64).item())
    return export.network(values, "from_torch")


_CLASS = {}


def _module_class(torch):
    """The module class, made once per torch (torch is imported only when it is needed)."""
    cls = _CLASS.get(id(torch))
    if cls is not None:
        return cls

    class TreenetModule(torch.nn.Module):
        """A treenet network as a torch module (see treenet.torchnet)."""

        def __init__(self, export, dtype):
            super().__init__()
            self._treenet_export = export
            self._treenet_forward = export.forward(torch)
            self.n_inputs = len(export.input_names)
            self.input_names = list(export.input_names)
            # after the attributes: a parameter named like one of them is refused, not shadowed
            for name, value in zip(export.parameter_names, export.values):
                try:
                    self.register_parameter(
                        name, torch.nn.Parameter(torch.tensor(value, dtype=dtype)))
                except (KeyError, TypeError) as exc:
                    reason = exc.args[0] if exc.args else type(exc).__name__
                    raise TreenetError(
                        f"to_torch: parameter {name!r} cannot be a torch parameter's name "
                        f"({reason}); rename it in the network (parameter.name = ...)") from None

        def forward(self, X):
            """The network's output for each row of X, (..., n_inputs) -> (...) or (..., k)."""
            X = self._batch(X)
            if X.dim() == 0 or X.shape[-1] != self.n_inputs:
                raise TreenetError(
                    f"the module takes rows of {self.n_inputs} input value(s) "
                    f"({', '.join(self.input_names) or 'none'}): expected shape "
                    f"(n, {self.n_inputs}), got {tuple(X.shape)}")
            p = [self._parameters[name] for name in self._treenet_export.parameter_names]
            return self._treenet_forward(X, p, X.new_zeros(X.shape[:-1]))

        def _batch(self, X):
            """X as a tensor of the parameters' dtype: a list, an array or a tensor of another
            dtype is converted (float32 rows into a float64 module would otherwise run the
            whole network in float32); a complex tensor, or one on another device, is refused."""
            dtype, device = self._dtype(), self._device()
            if isinstance(X, torch.Tensor):
                if X.is_complex():
                    raise TreenetError(f"the module takes real numbers, X is {X.dtype}")
                if device is not None and X.device != device:
                    raise TreenetError(f"the module's parameters are on {device}, X is on "
                                       f"{X.device}: move one, X.to({str(device)!r}) or "
                                       f"module.to({str(X.device)!r})")
                return X if X.dtype == dtype else X.to(dtype)
            try:
                return torch.as_tensor(X, dtype=dtype, device=device)
            except (TypeError, ValueError, RuntimeError) as exc:
                raise TreenetError(f"the module takes a batch of numbers, shape (n, "
                                   f"{self.n_inputs}); could not make a {dtype} tensor of "
                                   f"{type(X).__name__}: {exc}") from exc

        def _dtype(self):
            first = next(iter(self._parameters.values()), None)
            return torch.float64 if first is None else first.dtype

        def _device(self):
            first = next(iter(self._parameters.values()), None)
            return None if first is None else first.device

        def extra_repr(self):
            return (f"inputs={self.input_names}, "
                    f"parameters={len(self._treenet_export.parameter_names)}")

    TreenetModule.__module__ = __name__
    _CLASS[id(torch)] = TreenetModule
    return TreenetModule


__all__ = ["to_torch", "from_torch"]
