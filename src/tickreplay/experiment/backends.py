"""Where a sweep's runs execute: here or in local worker processes (:class:`LocalBackend`), or on Ray
(:class:`RayBackend`).

A backend receives chunks of :class:`RunTask` and yields, chunk by chunk as
they finish, the :class:`~tickreplay.results.RunRecord` of each run
(:func:`~tickreplay.experiment.run.compute_run`); the sweep writes them. Both
load each data set once: the local backend in this process before it forks
its workers (they inherit every data set and share the arrays copy-on-write), the Ray backend in the
driver, put once in Ray's object store (workers map the arrays zero-copy).
The same function computes every run on every backend, so their results are
the same.
"""

from __future__ import annotations

import multiprocessing
from collections import OrderedDict
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

from tickreplay.errors import ConfigError
from tickreplay.experiment.data import MarketData, load_data
from tickreplay.experiment.run import compute_run
from tickreplay.experiment.scenario import Scenario
from tickreplay.results import RunRecord

BACKENDS = ("local", "ray")
RAY_INSTALL = 'pip install -e ".[ray]" in the tickreplay checkout (or pip install "ray>=2.9")'


@dataclass(frozen=True)
class RunTask:
    """One run to compute: its id (computed by the sweep), the scenario and the text stored as ``scenario.toml``."""

    run_id: str
    scenario: Scenario
    text: str | None = None


def data_key(scn: Scenario) -> tuple:
    """Scenarios with equal keys read the same data (the key :func:`~tickreplay.experiment.data.load_data` caches)."""
    return (scn.data, scn.base_dir)


def run_tasks(tasks: Sequence[RunTask], data: dict[tuple, MarketData] | None = None) -> list[RunRecord]:
    """Compute each task's run (what every backend's workers execute); ``data``: loaded data by
    :func:`data_key` (default: :func:`load_data`, cached per process)."""
    out = []
    for t in tasks:
        d = data[data_key(t.scenario)] if data is not None else load_data(t.scenario)
        out.append(compute_run(t.scenario, d, t.run_id, t.text))
    return out


def load_once(scenarios: Iterable[Scenario]) -> dict[tuple, MarketData]:
    """Each distinct data set of ``scenarios``, by :func:`data_key`, loaded here with what every run reads of it
    computed once."""
    out: dict[tuple, MarketData] = {}
    for s in scenarios:
        k = data_key(s)
        if k not in out:
            d = load_data(s)
            _ = d.fingerprint, d.estimated  # cached on the object: computed once, not per worker or task
            out[k] = d
    return out


_FORKED_DATA: dict[tuple, MarketData] = {}  # the data a LocalBackend's forked workers inherit, by data key


def _run_forked(tasks: Sequence[RunTask]) -> list[RunRecord]:
    """A forked worker's chunk: on the data the parent loaded before forking (:data:`_FORKED_DATA`; a worker
    started another way, with none, loads it)."""
    if all(data_key(t.scenario) in _FORKED_DATA for t in tasks):
        return run_tasks(tasks, _FORKED_DATA)
    return run_tasks(tasks)


class LocalBackend:
    """Runs in this process (``jobs`` <= 1) or in ``jobs`` worker processes forked after the data is loaded."""

    name = "local"

    def __init__(self, jobs: int = 1) -> None:
        self.jobs = max(1, jobs)

    def run(self, chunks: Sequence[Sequence[RunTask]],
            data: dict[tuple, MarketData] | None = None) -> Iterator[list[RunRecord]]:
        """The records of each chunk, as chunks finish; ``data``: the tasks' data by :func:`data_key` (default:
        loaded here)."""
        tasks = [t for c in chunks for t in c]
        if not tasks:
            return
        if data is None:
            data = load_once(t.scenario for t in tasks)
        if self.jobs == 1 or len(chunks) == 1:
            for c in chunks:
                yield run_tasks(c, data)
            return
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("fork") if "fork" in methods else None  # fork: the data is shared
        _FORKED_DATA.clear()
        _FORKED_DATA.update(data)  # before the pool forks: every worker inherits every data set, however many
        pool = ProcessPoolExecutor(max_workers=min(self.jobs, len(chunks)), mp_context=ctx)
        try:
            pending = {pool.submit(_run_forked, c) for c in chunks}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    yield f.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            _FORKED_DATA.clear()


def import_ray() -> Any:
    """The ``ray`` module, or a :class:`ConfigError` saying how to install it."""
    try:
        import ray
    except ImportError as err:
        raise ConfigError(f"the Ray backend needs Ray, which is not installed ({err}); install the extra: "
                          f"{RAY_INSTALL}, or use --backend local") from None
    return ray


_WORKER_DATA: OrderedDict[str, MarketData] = OrderedDict()  # per Ray worker process: object id → data
_WORKER_DATA_MAX = 4


def _ray_data(refs: list[tuple[tuple, Any]]) -> dict[tuple, MarketData]:
    """The data of a Ray task, fetched from the object store once per worker process (zero-copy arrays)."""
    import ray

    out = {}
    for key, ref in refs:
        h = ref.hex()
        if h not in _WORKER_DATA:
            _WORKER_DATA[h] = ray.get(ref)
            while len(_WORKER_DATA) > _WORKER_DATA_MAX:
                _WORKER_DATA.popitem(last=False)
        _WORKER_DATA.move_to_end(h)
        out[key] = _WORKER_DATA[h]
    return out


def _ray_run_tasks(tasks: Sequence[RunTask], refs: list[tuple[tuple, Any]]) -> list[RunRecord]:
    """A Ray task: one chunk of runs on the data behind ``refs`` (nested in a list: Ray passes them unresolved)."""
    return run_tasks(tasks, _ray_data(refs))


class RayBackend:
    """Runs on Ray: an existing cluster at ``address`` (``ray://host:10001`` or ``host:6379``), or a local Ray
    started for the sweep (``num_cpus``: its CPUs; None: all) and shut down after it. Data is loaded here and put
    in the object store once; records come back here, so workers need the package but neither the data nor the
    results folder."""

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        self.ray = import_ray()
        self.address = address
        self.num_cpus = num_cpus

    def run(self, chunks: Sequence[Sequence[RunTask]],
            data: dict[tuple, MarketData] | None = None) -> Iterator[list[RunRecord]]:
        """The records of each chunk, as chunks finish; ``data``: the tasks' data by :func:`data_key` (default:
        loaded here)."""
        ray = self.ray
        tasks = [t for c in chunks for t in c]
        if not tasks:
            return
        if data is None:
            data = load_once(t.scenario for t in tasks)
        started = not ray.is_initialized()
        if started:
            if self.address is None:
                ray.init(num_cpus=self.num_cpus, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=self.address, log_to_driver=False)
        try:
            refs = {k: ray.put(d) for k, d in data.items()}
            remote = ray.remote(_ray_run_tasks)
            pending = []
            for c in chunks:
                keys = dict.fromkeys(data_key(t.scenario) for t in c)
                pending.append(remote.remote(list(c), [(k, refs[k]) for k in keys]))
            try:
                while pending:
                    done, pending = ray.wait(pending, num_returns=1)
                    for r in done:
                        yield ray.get(r)
            finally:
                for r in pending:
                    ray.cancel(r)
        finally:
            if started:
                ray.shutdown()


def make_backend(name: str, jobs: int = 1, ray_address: str | None = None) -> LocalBackend | RayBackend:
    """The backend called ``name`` (``local`` or ``ray``); ``jobs``: local workers, or the CPUs of a local Ray."""
    if name == "local":
        if ray_address is not None:
            raise ConfigError("--ray-address needs --backend ray (or [sweep] backend = \"ray\" in the grid)")
        return LocalBackend(jobs)
    if name == "ray":
        return RayBackend(ray_address, num_cpus=jobs if jobs > 1 else None)
    raise ConfigError(f"unknown sweep backend '{name}' (known: {', '.join(BACKENDS)})")
