"""Saving and loading, hardened (issues 7 and 8), one test per reproduction in the issues' order:
A. a failed save names the user's path, leaves no temp file and the old file untouched;
B. threads saving to one path leave a file that loads; C. a bad path, bad argument or a file that
is not a regular file is a clear FileError (never a hang, never a read to MemoryError);
D. swapped save arguments; E. a network whose file would load as another network is refused."""

import math
import os
import stat
import threading

import pytest

import treenet
from treenet import Add, Constant, Input, Multiply, Parameter, ParseError, TreenetError
from treenet.errors import FileError


def small_net():
    return treenet.parse("input x\np(0.5)*x")


def entries(folder):
    return sorted(os.listdir(folder))


# --- A. saving -----------------------------------------------------------------------------------

def test_saving_to_a_directory_names_the_path_and_leaves_no_temp_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.mkdir("out")
    with pytest.raises(FileError, match=r"'out'.*is a directory") as info:
        small_net().save("out")
    assert ".tmp" not in str(info.value)
    assert entries(".") == ["out"] and entries("out") == []


def test_saving_into_a_missing_folder_names_the_path_and_leaves_no_temp_file(tmp_path,
                                                                              monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileError, match=r"'missing/dir/x.tn'.*folder 'missing/dir' does not "
                                        r"exist") as info:
        small_net().save("missing/dir/x.tn")
    assert ".tmp" not in str(info.value)
    assert entries(".") == []


@pytest.mark.parametrize("where, failure", [
    ("fsync", OSError(28, "No space left on device")),  # the disk fills up while writing
    ("replace", OSError(18, "Invalid cross-device link")),  # the rename fails
    ("fsync", KeyboardInterrupt()),  # the user hits ^C mid-save
])
def test_a_save_that_fails_while_writing_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch,
                                                                          where, failure):
    path = tmp_path / "net.tn"
    path.write_text("the old file\n")

    def fail(*args):
        raise failure

    expected = FileError if isinstance(failure, OSError) else KeyboardInterrupt
    with monkeypatch.context() as patch:
        patch.setattr(os, where, fail)
        with pytest.raises(expected) as info:
            small_net().save(path)
    if expected is FileError:
        assert str(path) in str(info.value) and info.value.__cause__ is failure
    assert path.read_text() == "the old file\n"
    assert entries(tmp_path) == ["net.tn"]


# --- B. concurrency ------------------------------------------------------------------------------

def test_threads_saving_to_one_path_always_leave_a_file_that_loads(tmp_path):
    # networks of very different lengths: an interleaved or truncated write cannot look complete
    nets = [treenet.parse("input x\n" + " + ".join(["p*x"] * n), seed=n) for n in (1, 10, 60)]
    texts = {treenet.io.dumps(net) for net in nets}
    path = tmp_path / "shared.tn"
    errors = []

    def saver(net):
        try:
            for _ in range(5):
                net.save(path)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    for _ in range(3):
        threads = [threading.Thread(target=saver, args=(net,)) for net in nets * 2]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[:3]
        assert treenet.io.dumps(treenet.load(path)) in texts
        assert entries(tmp_path) == ["shared.tn"]


# --- C. loading ----------------------------------------------------------------------------------

def test_loading_a_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nofile.tn"
    with pytest.raises(FileError, match=r"nofile\.tn.*no such file") as info:
        treenet.load(path)
    assert isinstance(info.value.__cause__, FileNotFoundError)


def test_loading_a_directory_names_the_path(tmp_path):
    with pytest.raises(FileError, match=r"is a directory") as info:
        treenet.load(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_loads_of_none_says_it_takes_text():
    with pytest.raises(TreenetError, match=r"loads takes .*str.*NoneType"):
        treenet.io.loads(None)


def test_a_file_that_is_not_utf8_names_the_path_and_the_byte(tmp_path):
    path = tmp_path / "latin1.tn"
    path.write_bytes(b"input x\n\xe9x\n")
    with pytest.raises(ParseError, match=r"latin1\.tn.* not UTF-8.*0xe9") as info:
        treenet.load(path)
    assert (info.value.line, info.value.column) == (2, 1)


def test_loads_of_bytes_says_to_decode_them():
    with pytest.raises(TreenetError, match=r"loads takes .*str.*bytes.*decode"):
        treenet.io.loads(b"x")


def test_load_of_none_says_it_takes_a_path_or_a_file():
    with pytest.raises(TreenetError, match=r"load takes a file path or an open file.*None"):
        treenet.load(None)


def test_loading_dev_zero_is_refused_not_read_to_memory_error():
    with pytest.raises(FileError, match=r"'/dev/zero'.*not a regular file.*character device"):
        treenet.load("/dev/zero")


def test_loading_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.tn"
    os.mkfifo(fifo)
    outcome = []

    def loader():
        try:
            treenet.load(fifo)
        except BaseException as exc:  # noqa: BLE001 - inspected below
            outcome.append(exc)

    thread = threading.Thread(target=loader, daemon=True)
    thread.start()
    thread.join(10)
    blocked = thread.is_alive()
    if blocked:  # the old code waits in open() for a writer: be that writer, so the test ends
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
        thread.join(10)
    assert not blocked, "load blocked on a FIFO"
    assert len(outcome) == 1 and isinstance(outcome[0], FileError), outcome
    assert "not a regular file" in str(outcome[0]) and "FIFO" in str(outcome[0])


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path):
    assert treenet.io.MAX_FILE_BYTES == 64 * 2 ** 20
    big = tmp_path / "big.tn"
    with open(big, "wb") as f:  # sparse: nothing is written, nothing must be read
        f.truncate(treenet.io.MAX_FILE_BYTES + 1)
    with pytest.raises(FileError, match=r"big\.tn.*67108865 bytes.*limit.*64 MiB.*max_bytes"):
        treenet.load(big)
    small = tmp_path / "small.tn"
    small.write_text("input x\n" + "x + " * 50 + "x\n")
    with pytest.raises(FileError, match=r"limit of 100 bytes"):
        treenet.load(small, max_bytes=100)
    assert len(treenet.load(small, max_bytes=1000).inputs) == 1


# --- D. wrong arguments --------------------------------------------------------------------------

def test_swapped_save_arguments_say_network_then_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TreenetError, match=r"save\(network, path\).*swapped"):
        treenet.save("x.tn", small_net())
    assert entries(".") == []


# --- E. a saved file must load as the same network -----------------------------------------------

@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_a_non_finite_constant_is_refused_at_save(tmp_path, value):
    # `inf` printed as a number reads back as the input named inf: 2.0 where the original raises
    net = Add([Input(name="inf"), Constant(value)])
    path = tmp_path / "e.tn"
    with pytest.raises(TreenetError, match=rf"constant {value!r} in inf [-+] .*finite"):
        net.save(path)
    assert entries(tmp_path) == []

