"""Speed options: --compile (and its fallbacks), --channels-last, --data-on-host, fused optimizers, and a
step free of host-device syncs. Each option must change how fast a step runs, never what it computes."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from ganforge.cli import main
from ganforge.data import TensorDataset
from ganforge.training import accel
from ganforge.training.accel import CompiledOrEager, maybe_compile, optimizer_options
from ganforge.training.feed import gather_rows, keep_data_on_host
from ganforge.training.update import Trainer

CPU = torch.device("cpu")


def assert_same_networks(a: Trainer, b: Trainer, rtol: float = 1e-4, atol: float = 1e-5) -> None:
    for net_a, net_b in ((a.generator, b.generator), (a.discriminator, b.discriminator)):
        for (name, x), (_, y) in zip(net_a.state_dict().items(), net_b.state_dict().items(), strict=True):
            torch.testing.assert_close(y.contiguous(), x.contiguous(), rtol=rtol, atol=atol, msg=name)


# -- torch.compile -----------------------------------------------------------------------------------------

def test_compile_without_a_cxx_compiler_falls_back_with_one_line(monkeypatch, capsys, image_dataset, make_config):
    import torch._inductor.config as inductor_config

    monkeypatch.setattr(inductor_config.cpp, "cxx", ("/nonexistent/c++",))
    trainer = Trainer(make_config(compile=True), image_dataset, CPU)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--compile ignored: no working C++ compiler" in err
    assert trainer.g_net is trainer.generator and trainer.d_net is trainer.discriminator
    scalars = trainer.train_step()
    assert all(torch.isfinite(v) for v in scalars.values())


def test_compiler_failure_at_the_first_call_falls_back_to_eager(capsys):
    def broken_backend(graph, example_inputs):
        raise RuntimeError("simulated: the C compiler crashed")

    torch.manual_seed(0)
    module = nn.Linear(3, 2)
    call = maybe_compile(module, "the discriminator", enabled=True, backend=broken_backend)
    assert isinstance(call, CompiledOrEager)
    x = torch.randn(4, 3)
    torch.testing.assert_close(call(x), module(x))
    assert call.fell_back
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "torch.compile failed for the discriminator" in err and "eagerly" in err
    call(x)
    assert capsys.readouterr().err == ""  # said once


def test_compiled_step_computes_the_eager_step(monkeypatch, image_dataset, make_config):
    # aot_eager traces and differentiates like inductor but needs no C++ toolchain (and compiles in seconds)
    monkeypatch.setattr(accel, "DEFAULT_BACKEND", "aot_eager")
    # fp32: bf16 kernels of the traced and the eager graph round differently
    eager = Trainer(make_config(precision="fp32"), image_dataset, CPU)
    compiled = Trainer(make_config(compile=True, precision="fp32"), image_dataset, CPU)
    assert isinstance(compiled.g_net, CompiledOrEager) and isinstance(compiled.d_net, CompiledOrEager)
    for _ in range(2):
        expected, got = eager.train_step(), compiled.train_step()
        for key in expected:
            torch.testing.assert_close(got[key], expected[key], rtol=1e-4, atol=1e-5)
    assert not compiled.g_net.fell_back and not compiled.d_net.fell_back
    assert_same_networks(eager, compiled)


# -- channels-last -----------------------------------------------------------------------------------------

def rgb_dataset() -> TensorDataset:
    """RGB, since with one channel NCHW and NHWC are the same layout."""
    data = torch.randint(0, 256, (16, 3, 32, 32), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    return TensorDataset(data, torch.zeros(16, dtype=torch.long), num_classes=0, name="rgb")


@pytest.mark.parametrize("augment", ["none", "diffaug"])
def test_channels_last_changes_the_layout_not_the_result(augment, make_config):
    dataset = rgb_dataset()
    eager = Trainer(make_config(augment=augment), dataset, CPU)
    nhwc = Trainer(make_config(augment=augment, channels_last=True), dataset, CPU)
    conv = next(m for m in nhwc.discriminator.modules() if isinstance(m, nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    probe = Trainer(make_config(augment=augment, channels_last=True), dataset, CPU)
    real, _ = probe.next_real()
    assert real.is_contiguous(memory_format=torch.channels_last) and not real.is_contiguous()
    assert probe.d_input(real).is_contiguous(memory_format=torch.channels_last)
    for _ in range(2):
        eager.train_step(), nhwc.train_step()
    assert_same_networks(eager, nhwc)


def test_channels_last_is_ignored_for_points(make_config):
    from ganforge.data import load_dataset

    trainer = Trainer(make_config(model="mlp", data="toy2d:ring", channels_last=True, batch_size=8),
                      load_dataset("toy2d:ring"), CPU)
    assert not trainer.channels_last
    trainer.train_step()


# -- data placement ---------------------------------------------------------------------------------------

def test_data_placement_decision():
    gpu = torch.device("cuda", 0)
    assert not keep_data_on_host(False, 10**9, CPU, free_bytes=0)  # CPU training: the data is already there
    assert not keep_data_on_host(True, 10**9, CPU, free_bytes=0)
    assert keep_data_on_host(True, 10, gpu, free_bytes=10**12)  # asked for
    assert keep_data_on_host(False, 6 * 10**9, gpu, free_bytes=10**10)  # would take over half the free memory
    assert not keep_data_on_host(False, 4 * 10**9, gpu, free_bytes=10**10)


def test_host_gather_returns_the_indexed_rows():
    data = torch.arange(5 * 2 * 3 * 3, dtype=torch.uint8).view(5, 2, 3, 3)
    index = torch.tensor([4, 0, 2])
    torch.testing.assert_close(gather_rows(data, index, CPU), data[index])


def test_data_on_host_trains_like_device_data_on_cpu(image_dataset, make_config):
    a = Trainer(make_config(), image_dataset, CPU)
    b = Trainer(make_config(data_on_host=True), image_dataset, CPU)
    assert not b.data_on_host  # nothing to gain on a CPU run
    a.train_step(), b.train_step()
    assert_same_networks(a, b, rtol=0, atol=0)


# -- optimizers and syncs ----------------------------------------------------------------------------------

def test_fused_optimizers_on_cuda_default_elsewhere():
    class FakeCudaParam:
        is_cuda = True

        @staticmethod
        def is_floating_point() -> bool:
            return True

    gpu = torch.device("cuda", 0)
    assert optimizer_options(torch.optim.Adam, gpu, [FakeCudaParam()]) == {"fused": True}
    assert optimizer_options(torch.optim.RMSprop, gpu, [FakeCudaParam()]) == {"foreach": True}  # no fused kernel
    assert optimizer_options(torch.optim.Adam, CPU, [nn.Parameter(torch.ones(2))]) == {}
    # and the options are ones the optimizers accept (constructed on CPU tensors, without the CUDA check)
    torch.optim.Adam([nn.Parameter(torch.ones(2))], fused=True)
    torch.optim.RMSprop([nn.Parameter(torch.ones(2))], foreach=True)


class ScalarReads(TorchDispatchMode):
    """Records every tensor -> Python scalar read (``.item()``, ``float(t)``, ``if t:``): on a GPU each
    one is a host-device sync."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[torch.Tensor] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in (torch.ops.aten._local_scalar_dense.default, torch.ops.aten.is_nonzero.default):
            self.reads.append(args[0])
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("options", [{}, {"precision": "bf16", "gp": 10.0, "loss": "wasserstein",
                                          "augment": "diffaug", "ema_kimg": 1.0, "n_critic": 2}])
def test_train_step_reads_no_device_scalar(options, image_dataset, make_config):
    """The only scalar reads in a step are Adam's step counters, which torch keeps on the host (CPU)
    even in CUDA runs unless the optimizer is fused/capturable; a ``loss.item()`` would show up here."""
    trainer = Trainer(make_config(**options), image_dataset, CPU)
    trainer.train_step()  # lazy optimizer state exists from here on
    counters = {id(state["step"]) for opt in (trainer.opt_d, trainer.opt_g) for state in opt.state.values()}
    with ScalarReads() as mode:
        trainer.train_step()
    unexpected = [t for t in mode.reads if id(t) not in counters]
    assert not unexpected


def test_dispatch_probe_sees_an_item_call():
    with ScalarReads() as mode:
        torch.ones(2).sum().item()
    assert len(mode.reads) == 1


# -- command line ------------------------------------------------------------------------------------------

def test_speed_flags_reach_the_config(tmp_path, tiny_data):
    run_dir = tmp_path / "run"
    assert main(["train", "--width", "8", "--batch-size", "4", "--z-dim", "8", "--steps", "2", "--no-progress",
                 "--device", "cpu", "--precision", "bf16", "--channels-last", "--data-on-host",
                 "--run-dir", str(run_dir)]) == 0
    text = (run_dir / "config.yaml").read_text()
    assert "precision: bf16" in text and "channels_last: true" in text and "data_on_host: true" in text


def test_unknown_precision_is_a_one_line_error(tmp_path, capsys):
    assert main(["train", "--precision", "fp64", "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "precision must be one of auto, fp32, bf16, fp16" in err


def test_done_line_reports_peak_gpu_memory_only_when_there_is_one(monkeypatch, capsys, tmp_path):
    import ganforge.commands.train
    from ganforge.training.run import TrainResult

    results = [TrainResult(tmp_path, 5, 1.0, 10.0, {"loss_d": 1.0, "loss_g": 2.0}, peak_gpu_bytes=3 * 2**30),
               TrainResult(tmp_path, 5, 1.0, 10.0, {"loss_d": 1.0, "loss_g": 2.0}),
               TrainResult(tmp_path, 5, 1.0, 10.0, {}, is_main=False)]
    monkeypatch.setattr(ganforge.commands.train, "train", lambda *args, **kwargs: results.pop(0))
    args = ["train", "--steps", "5", "--run-dir", str(tmp_path / "r")]
    assert main(args) == 0
    assert "peak GPU memory 3.00 GiB" in capsys.readouterr().out
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("done: 5 steps") and "GPU" not in out
    assert main(args) == 0  # another rank of a torchrun job: rank 0 reports for it
    assert capsys.readouterr().out == ""
