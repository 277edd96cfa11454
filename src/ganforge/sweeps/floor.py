"""A sweep's real-data floor (:mod:`ganforge.metrics.floor`): for each image dataset its runs train on, N
real images (N = the evaluation's samples) scored under the sweep's evaluation protocol, once, cached in
``<out>/floor.json``. ``evaluation: floor: false`` turns it off; 2-D point runs have none (their PacGAN
scores are measured against the mixture itself).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

from ganforge.data import IMAGE
from ganforge.devices import resolve_device
from ganforge.errors import GanforgeError
from ganforge.metrics.floor import Floor, FloorRequest, cached_floors, ensure_floors, measure_floor
from ganforge.metrics.specs import describe_values
from ganforge.sweeps.spec import Sweep
from ganforge.tune.folders import INFERENCE_BATCH


def floor_requests(sweep: Sweep) -> list[FloorRequest]:
    """One request per (dataset, resolution) of the sweep's image runs; none when the floor is off or
    nothing measures images."""
    evaluation = sweep.evaluation
    metrics = evaluation.metrics_for(IMAGE)
    if not sweep.floor or not metrics:
        return []
    requests: list[FloorRequest] = []
    for run in sweep.runs:
        if run.kind != IMAGE:
            continue
        request = FloorRequest(run.config.data, evaluation.samples_for(IMAGE), metrics, run.config.resolution,
                               evaluation.reference, evaluation.reference_samples, cache_dir=run.config.cache_dir)
        if request not in requests:
            requests.append(request)
    return requests


def describe_floor(floor: Floor) -> str:
    return f"real-data floor of {floor.request.data} ({floor.count} images): {describe_values(floor.values)}"


def floor_states(sweep: Sweep) -> list[str]:
    """What --dry-run says about the floor: each request, measured or still to measure."""
    requests = floor_requests(sweep)
    if not sweep.floor and sweep.evaluation.metrics_for(IMAGE):
        return ["real-data floor: off (evaluation: floor: false)"]
    cached = {floor.request: floor for floor in cached_floors(sweep.out, requests)}
    return [describe_floor(cached[request]) if request in cached else
            f"real-data floor of {request.data}: {request.samples} real images under the same protocol "
            "[to measure after the runs]" for request in requests]


def measure_sweep_floors(sweep: Sweep, echo: Callable[[str], None] = print) -> list[Floor]:
    """Measure the floors the sweep still lacks (after its runs: they never wait for it). A failure is one
    warning, not an error: the runs it would be compared with are trained and measured already."""
    requests = floor_requests(sweep)
    if not requests:
        return []

    def measure(request: FloorRequest) -> Floor:
        echo(f"real-data floor of {request.data}: scoring {request.samples} real images "
             f"({', '.join(request.metrics)})")
        device = str(resolve_device(sweep.evaluation.device))
        floor = measure_floor(request, device=device, batch_size=INFERENCE_BATCH)
        echo(describe_floor(floor))
        return floor

    try:
        floors, _ = ensure_floors(sweep.out, requests, measure)
    except GanforgeError as exc:
        warnings.warn(f"real-data floor not measured: {exc}", stacklevel=2)
        return cached_floors(sweep.out, requests)
    return floors
