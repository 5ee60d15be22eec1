"""Loss plots (issue 10, "Pictures and display"): `History.plot(path=None)` draws the loss per
epoch (and the accuracy, on a second axis, when recorded) with matplotlib, saves a PNG/SVG/PDF by
the path's suffix or returns the Figure, and without matplotlib says which extra to install."""

import builtins

import pytest

import treenet

XOR = [([0, 0], 0), ([0, 1], 1), ([1, 0], 1), ([1, 1], 0)]


def _history(loss="bce", epochs=40):
    net = treenet.parse("input x, y\nsigmoid(linear(tanh(dense(3, x, y))))", seed=0)
    return treenet.train(net, XOR, loss=loss, optimizer="adam", lr=0.05, epochs=epochs, seed=0,
                         progress=False)


def test_plot_saves_a_png(tmp_path):
    history = _history()
    path = history.plot(tmp_path / "loss.png")
    assert path == str(tmp_path / "loss.png")
    data = (tmp_path / "loss.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000  # a real picture
    assert [p.name for p in tmp_path.iterdir()] == ["loss.png"]  # no temp file left


def test_plot_saves_svg_and_pdf_by_suffix(tmp_path):
    history = _history()
    history.plot(tmp_path / "loss.svg")
    history.plot(str(tmp_path / "loss.pdf"))
    assert "<svg" in (tmp_path / "loss.svg").read_text()
    assert (tmp_path / "loss.pdf").read_bytes()[:5] == b"%PDF-"


def test_plot_without_a_path_returns_the_figure_with_loss_and_accuracy():
    from matplotlib.figure import Figure
    history = _history(epochs=30)
    figure = history.plot()
    assert isinstance(figure, Figure)
    loss_axes, accuracy_axes = figure.axes
    (loss,) = loss_axes.get_lines()
    (accuracy,) = accuracy_axes.get_lines()
    assert list(loss.get_xdata()) == list(range(1, 31))
    assert list(loss.get_ydata()) == history.loss
    assert list(accuracy.get_ydata()) == history.accuracy
    assert "bce" in loss_axes.get_ylabel() and accuracy_axes.get_ylabel() == "accuracy"


def test_plot_of_a_regression_has_no_accuracy_axis():
    net = treenet.parse("p*x + p", seed=0)
    history = treenet.train(net, [([x], 2 * x + 1) for x in (0.0, 0.5, 1.0)], epochs=5,
                            progress=False)
    assert len(history.plot().axes) == 1


def test_plot_errors(tmp_path):
    history = _history(epochs=2)
    with pytest.raises(treenet.TreenetError, match=r"must end in \.png, \.svg, \.pdf"):
        history.plot(tmp_path / "loss.bmp")
    with pytest.raises(treenet.FileError, match="does not exist"):
        history.plot(tmp_path / "missing" / "loss.png")
    empty = treenet.History("mse", classification=False)
    with pytest.raises(treenet.TreenetError, match="no epochs"):
        empty.plot()
    assert list(tmp_path.iterdir()) == []


def test_plot_without_matplotlib_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    history = _history(epochs=2)
    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(treenet.TreenetError, match=r"pip install 'treenet\[plot\]'") as info:
        history.plot()
    assert isinstance(info.value.__cause__, ImportError)
