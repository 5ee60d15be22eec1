"""The save/load batteries (issue 8, "Done when"): random networks round-trip bit for bit; every
prefix of a saved file, and every hostile file, either loads as a network or raises a
TreenetError, never another exception. Sized to run in a few seconds."""

import io
import random

import pytest

import treenet
from treenet import NeuralNetNode, TreenetError
from test_io import assert_same_network, outcome
from test_properties import program

ROUND_TRIPS = 80    # random programs of test_properties.py: shared bindings, every op, macros
TRUNCATED = 3       # saved files cut at every byte
DEEP = 100_000      # nesting depth of the deep hostile files


def randomised(seed):
    """(network, points) for program(seed), with parameter values whose reprs are long, tiny,
    huge, subnormal or a signed zero."""
    source, point = program(seed)
    net = treenet.parse(source, seed=seed)
    rng = random.Random(seed)
    for p in net.parameters:
        p.value = rng.choice([rng.uniform(-3, 3), rng.gauss(0, 1) / 3, 1e-300, -0.0, 5e-324,
                              1 / 3, 123456789.123456789, -2.5])
    return net, [point, {name: -v for name, v in point.items()}]


def test_random_networks_round_trip_bit_identically():
    failures = []
    for seed in range(ROUND_TRIPS):
        net, points = randomised(seed)
        buf = io.StringIO()
        net.save(buf)
        loaded = treenet.load(io.StringIO(buf.getvalue()))
        try:
            assert_same_network(net, loaded)
            assert [outcome(loaded, pt) for pt in points] == [outcome(net, pt) for pt in points]
        except AssertionError as exc:
            failures.append((seed, exc))
    assert not failures, failures[:3]


def load_or_treenet_error(data):
    """The network `data` (bytes of a file) loads as, or None if it raises a TreenetError; any
    other exception propagates."""
    try:
        net = treenet.load(io.BytesIO(data))
    except TreenetError:
        return None
    assert isinstance(net, NeuralNetNode) and net.graph.nodes
    return net


def test_every_prefix_of_a_saved_file_loads_or_is_a_treenet_error():
    for seed in range(TRUNCATED):
        net, _ = randomised(seed)
        data = treenet.io.dumps(net).encode("utf-8")
        body = data[data.index(b"\n") + 1:]  # without the header: a hand-written program
        for text in (data, body):
            for cut in range(len(text) + 1):
                load_or_treenet_error(text[:cut])
        assert_same_network(net, load_or_treenet_error(data))


def _printable_junk(seed, n=2000):
    rng = random.Random(seed)
    return "".join(rng.choice("xyp()[]+-*/^,;=#.e0123456789 \n\t") for _ in range(n)).encode()


SAVED = treenet.io.dumps(treenet.parse("input x, y\nh = tanh(p*x + p*y)\nsoftmax(h*p, p*h + p)",
                                       seed=1)).encode()

HOSTILE = {
    **{f"binary junk {k}": random.Random(k).randbytes(2000) for k in range(4)},
    **{f"printable junk {k}": _printable_junk(k) for k in range(4)},
    "NUL bytes": b"\0" * 1000,
    "a NUL in a program": b"input x\n\0x\n",
    "a NUL in a saved file": SAVED[:60] + b"\0" + SAVED[60:],
    "a huge single line": b"x + " * 10_000 + b"x",
    "a huge number": b"1" * 100_000,
    "a huge name": b"x" * 1_000_000,
    "deep nesting, never closed": b"(" * DEEP,
    "a UTF-8 BOM": b"\xef\xbb\xbf" + SAVED,
    "two BOMs": b"\xef\xbb\xbf" * 2 + SAVED,
    "CRLF line ends": SAVED.replace(b"\n", b"\r\n"),
    "a BOM and CRLF": b"\xef\xbb\xbf" + SAVED.replace(b"\n", b"\r\n"),
    "CR line ends": SAVED.replace(b"\n", b"\r"),
    "a header only": b"# treenet network: 0 inputs, 0 parameters\n# end\n",
    "an end line only": b"# end\n",
}


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_file_loads_or_is_a_treenet_error(tmp_path, name):
    path = tmp_path / "hostile.tn"
    path.write_bytes(HOSTILE[name])
    try:
        treenet.load(path)
    except TreenetError:
        pass


@pytest.mark.parametrize("name", ["a UTF-8 BOM", "CRLF line ends", "a BOM and CRLF"])
def test_a_bom_and_crlf_line_ends_load_as_the_saved_network(tmp_path, name):
    path = tmp_path / "edited.tn"
    path.write_bytes(HOSTILE[name])
    assert_same_network(treenet.io.loads(SAVED.decode()), treenet.load(path))


def test_deep_nesting_loads_as_its_innermost_expression():
    deep = b"(" * DEEP + b"x" + b")" * DEEP
    assert treenet.load(io.BytesIO(deep)).predict([3.0]) == 3.0


def test_an_input_named_inf_round_trips_once_constants_are_finite():
    # with non-finite constants refused, `inf` and `nan` are ordinary names: the number syntax
    # starts with a digit or a point, so it never takes them
    net = treenet.parse("input inf, nan\np(0.5)*inf - nan + 1e308")
    loaded = treenet.io.loads(treenet.io.dumps(net))
    assert_same_network(net, loaded)
    assert loaded.predict([2.0, 3.0]) == net.predict([2.0, 3.0]) == 1e308
