"""What running under dask needs of convmat itself: the thread count follows ``OMP_NUM_THREADS``, device arrays
are refused up front. Neither needs dask installed.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import convmat as cm
from convmat import config, parallel

# ---------------------------------------------------------------------------
# The default thread count honours OMP_NUM_THREADS; set_num_threads overrides it
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "threads"), [("1", 1), ("3", 3), ("4,2", 4), (" 2 ", 2), ("64", 64)])
def test_default_threads_follow_omp_num_threads(monkeypatch, value, threads):
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert config.default_num_threads() == threads


@pytest.mark.parametrize("value", ["", "0", "-2", "two", "1.5", ",3"])
def test_invalid_omp_num_threads_is_ignored(monkeypatch, value):
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert config.default_num_threads() == config._available_cpus()


def test_without_omp_num_threads_the_default_is_the_cpus(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert config.default_num_threads() == config._available_cpus()


def _threads_in_a_new_process(omp_num_threads, code="import convmat; print(convmat.get_num_threads())"):
    env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    if omp_num_threads is not None:
        env["OMP_NUM_THREADS"] = omp_num_threads
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_a_process_started_with_omp_num_threads_one_runs_one_thread():
    assert _threads_in_a_new_process("1") == ["1"]
    assert _threads_in_a_new_process("3") == ["3"]
    assert _threads_in_a_new_process(None) == [str(config._available_cpus())]


def test_set_num_threads_overrides_omp_num_threads():
    code = (
        "import convmat as cm\n"
        "with cm.num_threads(3):\n"
        "    print(cm.get_num_threads())\n"
        "print(cm.get_num_threads(), cm.set_num_threads(2), cm.get_num_threads())\n"
    )
    assert _threads_in_a_new_process("1", code) == ["3", "1", "1", "2"]


def test_omp_num_threads_is_read_once_at_import():
    """Setting the variable later (as a LocalCluster does in its own process, for its workers) changes nothing."""
    code = "import os, convmat as cm\nos.environ['OMP_NUM_THREADS'] = '1'\nprint(cm.get_num_threads())\n"
    assert _threads_in_a_new_process("3", code) == ["3"]


def test_one_thread_means_one_block_at_a_time():
    with cm.num_threads(1):
        assert parallel.thread_count(64, 10**12, 1) == 1
        seen = []
        parallel.map_plane_blocks(seen.append, 64, 1 << 20, 1 << 20, 1)
    assert [b.start for b in seen] == list(range(64))  # one thread walks every block in order


# ---------------------------------------------------------------------------
# Arrays on a device: a TypeError naming what convmat takes, before any conversion
# ---------------------------------------------------------------------------


class CudaArray:
    """Stands for a CuPy array (or a PyTorch tensor on a GPU): it exposes ``__cuda_array_interface__``."""

    converted = False

    def __init__(self, shape):
        self.shape = shape
        self.__cuda_array_interface__ = {"shape": shape, "typestr": "<f8", "data": (0, False), "version": 3}

    def __array__(self, dtype=None, copy=None):
        CudaArray.converted = True  # what a silent copy off the device would do
        return np.ones(self.shape)


class DLPackArray:
    """Stands for a JAX array: ``__dlpack_device__`` says where it lives."""

    def __init__(self, shape, device_type):
        self.shape, self.device_type = shape, device_type

    def __dlpack_device__(self):
        return (self.device_type, 0)

    def __array__(self, dtype=None, copy=None):
        return np.ones(self.shape)


def _device_calls(make):
    x, w = np.ones((2, 1, 5, 5)), np.ones((1, 1, 3, 3))
    pooled, idx = cm.max_pool(x, 2, return_indices=True)
    return [
        ("x", lambda: cm.conv(make(x.shape), w)),
        ("weight", lambda: cm.conv(x, make(w.shape))),
        ("grad_output", lambda: cm.conv_input_grad(x.shape, w, make((2, 1, 3, 3)))),
        ("x", lambda: cm.conv_weight_grad(make(x.shape), w.shape, np.ones((2, 1, 3, 3)))),
        ("x", lambda: cm.conv_transpose(make(x.shape), w)),
        ("x", lambda: cm.max_pool(make(x.shape), 2)),
        ("indices", lambda: cm.max_pool_backward(pooled, make(idx.shape), x.shape)),
        ("x", lambda: cm.avg_pool(make(x.shape), 2)),
        ("x", lambda: cm.im2col(make(x.shape), 2)),
        ("x", lambda: cm.adaptive_max_pool(make(x.shape), 2)),
        ("x", lambda: cm.lp_pool(make(x.shape), 2, 2)),
        ("x", lambda: cm.pad(make(x.shape), (1, 1))),
        ("weight", lambda: cm.conv_matrix(make(w.shape), (1, 5, 5))),
        ("x", lambda: cm.conv2d(make((1, 5, 5)), w)),
    ]


@pytest.mark.parametrize("index", range(len(_device_calls(lambda shape: None))))
def test_cuda_arrays_are_refused_naming_what_is_supported(index):
    name, call = _device_calls(lambda shape: CudaArray(shape))[index]
    CudaArray.converted = False
    with pytest.raises(TypeError) as error:
        call()
    message = str(error.value)
    assert message.startswith(f"{name} is a {__name__}.CudaArray on a CUDA device: convmat takes NumPy arrays")
    assert "dask arrays" in message
    assert not CudaArray.converted


@pytest.mark.parametrize("device_type", [2, 10, 14])  # CUDA, ROCm, oneAPI
def test_dlpack_arrays_on_a_device_are_refused(device_type):
    with pytest.raises(TypeError, match=rf"x is a .*DLPackArray on DLPack device type {device_type}, id 0"):
        cm.conv(DLPackArray((2, 1, 5, 5), device_type), np.ones((1, 1, 3, 3)))


def test_dlpack_arrays_on_the_cpu_are_converted():
    y = cm.conv(DLPackArray((2, 1, 5, 5), 1), np.ones((1, 1, 3, 3)))
    np.testing.assert_array_equal(y, np.full((2, 1, 3, 3), 9.0))


def test_device_weight_is_refused_by_convmat_dask_too():
    da = pytest.importorskip("dask.array")
    x = da.ones((2, 1, 5, 5), chunks=(1, 1, 5, 5))
    with pytest.raises(TypeError, match=r"weight is a .*CudaArray on a CUDA device"):
        cm.conv(x, CudaArray((1, 1, 3, 3)))
    with pytest.raises(TypeError, match=r"indices is a .*CudaArray on a CUDA device"):
        cm.dask.max_unpool(x, CudaArray((2, 1, 5, 5)), (5, 5))
