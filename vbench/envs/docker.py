"""``docker``: the runner in a container, through the Docker SDK for Python.

One long-lived container per variant serves every trial of a run (``docker exec`` of the runner), so container
start-up is not part of a workload's figure. Storage variants put the workload's working directory, the storage
under test, on:

- ``layer``: the container's writable layer (overlay2 here),
- ``volume``: a named volume,
- ``bind``: a host directory (a 0700 scratch directory of vbench's),
- ``tmpfs``: a tmpfs mount (memory).

The workloads are bind-mounted read-only. Everything created carries the label ``vbench.run=<run-id>``, and
teardown removes exactly what has that label.

Block I/O accounting on cgroup v1: blkio counters only count for a device that has a throttle rule. A rule far
above any device's speed makes them count, but it is not free: on this kind of host it cost 6-10% of fio's
figures (benchmarks/docker_fidelity.py --hand-counting-rule). So the rule is set only when asked for
(``blkio_accounting``); without it the cgroup collector leaves block I/O out rather than report zeros.
cgroup v2 counts without a rule.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import psutil

from vbench import catalog
from vbench.catalog import WORKLOADS_DIR
from vbench.dockerclient import docker_client, remove_labelled  # noqa: F401 (the backends' names for them)
from vbench.dockerclient import first_line as _first_line
from vbench.envs.base import Availability, Environment, OnStart
from vbench.envs.workers import DockerExecPipe, WorkerLost
from vbench.errors import Unavailable, VBenchError
from vbench.fingerprint import filesystem_of
from vbench.ledger import LABEL, OWNER_LABEL, ownership_labels
from vbench.model import GUEST_PLUGINS, GUEST_ROOT, Execution, Handle
from vbench.validity import HostPath, on_filesystem

WORKDIR = "/scratch"
# A throttle rule this high never limits a real device; it only makes cgroup v1 count the device's bytes.
COUNTING_RATE_BPS = 100_000 * 1024 * 1024
TMPFS_SIZE = "4g"


class Docker(Environment):
    kind = "docker"
    summary = "a long-lived container; the storage under test is its writable layer, a volume, a bind mount or tmpfs"
    variants = ("layer", "volume", "bind", "tmpfs")
    default_variant = "volume"
    keeps_workers = True

    def __init__(self, spec, context):
        super().__init__(spec, context)
        self.client = None
        self.container = None
        self.image_id: str | None = None
        self._volume = None
        self._bind_dir: str | None = None
        self._host_path: HostPath | None = None
        self.throttle_device: str | None = None
        self.cgroup_paths: dict[str, str] = {}

    @classmethod
    def available(cls) -> Availability:
        client = docker_client(timeout=10)
        if client is None:
            return Availability(False, "no Docker engine answers (install docker.io and start dockerd; "
                                       "./setup.sh does both as root)")
        try:
            if _image_present(client):
                return Availability(True, f"engine {client.version().get('Version')}")
        except Exception as exc:  # it answered the ping, then stopped answering
            return Availability(False, f"the Docker engine stopped answering: {_first_line(exc)}")
        finally:
            client.close()
        from vbench.images import guest_image

        return Availability(False, f"guest image {guest_image().tag} is not built: run `vbench images build`")

    @property
    def runtime(self) -> str:
        return self.context.options.runtime or "runc"

    def provision(self) -> None:
        self.client = docker_client()
        if self.client is None:
            raise Unavailable("the Docker engine stopped answering")
        image = self.context.options.image or default_tag()
        labels = {LABEL: self.context.run_id, "vbench.env": self.spec.label, **ownership_labels()}
        self.context.ledger.add_docker()  # before anything labelled exists, so a reaper knows its owner lives
        mounts, tmpfs = self._storage(labels)
        options = self.context.options
        device = _block_device(self._storage_host_path()) if options.blkio_accounting else None
        self.throttle_device = device
        rates = [{"Path": device, "Rate": COUNTING_RATE_BPS}] if device else None
        try:
            self.container = self.client.containers.run(
                image, ["sleep", "infinity"], detach=True, labels=labels, working_dir=WORKDIR,
                volumes={**shared_mounts(), **mounts, **self._user_mount()},
                tmpfs=tmpfs, network_mode="none", runtime=self.runtime, cap_drop=["ALL"],
                security_opt=["no-new-privileges"], device_read_bps=rates, device_write_bps=rates,
                nano_cpus=int(options.cpus * 1e9) if options.cpus else None,
                mem_limit=options.memory, name=f"vbench-{self.context.run_id}-{self.spec.variant}")
        except Exception as exc:
            raise VBenchError(f"cannot start the {self.spec.label} container: {_first_line(exc)}") from None
        self.container.reload()
        if self.container.status != "running":
            logs = _first_line(Exception(self.container.logs(tail=5).decode(errors="replace") or "no output"))
            raise VBenchError(f"the {self.spec.label} container exited at start "
                              f"(status {self.container.attrs['State'].get('ExitCode')}): {logs}")
        self.image_id = self.container.image.id
        self.cgroup_paths = cgroup_paths(self.container.attrs["State"]["Pid"])
        if not self.throttle_device:
            self.cgroup_paths.pop("blkio", None)  # v1 would read zeros: leave block I/O out instead
        started = self.container.attrs["State"]["StartedAt"]
        self.lifecycle.notes.append(f"container {self.container.id[:12]} started {started}")

    def _storage(self, labels: dict) -> tuple[dict, dict | None]:
        variant = self.spec.variant
        if variant == "volume":
            self._volume = self.client.volumes.create(name=f"vbench-{self.context.run_id}-volume", labels=labels)
            return {self._volume.name: {"bind": WORKDIR, "mode": "rw"}}, None
        if variant == "bind":
            self._bind_dir = self.context.make_scratch("bind")
            return {self._bind_dir: {"bind": WORKDIR, "mode": "rw"}}, None
        if variant == "tmpfs":
            return {}, {WORKDIR: f"rw,size={TMPFS_SIZE}"}
        return {}, None  # layer: docker creates the working directory in the container's writable layer

    def _user_mount(self) -> dict:
        source = self.context.options.user_dir
        return {source: {"bind": f"{GUEST_ROOT}/user", "mode": "ro"}} if source else {}

    @property
    def user_dir(self) -> str | None:
        return f"{GUEST_ROOT}/user" if self.context.options.user_dir else None

    def plugin_paths(self) -> list[str]:
        return [GUEST_PLUGINS]

    def _storage_host_path(self) -> str | None:
        """A host path on the filesystem that holds the storage under test (None for tmpfs)."""
        if self.spec.variant == "bind":
            return self._bind_dir
        if self.spec.variant == "tmpfs":
            return None
        return self.client.info().get("DockerRootDir", "/var/lib/docker")

    def cannot_slice_io(self) -> str | None:
        if self.spec.variant == "tmpfs":
            return "its files are in tmpfs (memory), which the kernel's per-process I/O accounting does not count"
        return None

    def host_path(self) -> HostPath:
        """The container's own probe sees its storage's O_DIRECT as the host does (mounts and overlayfs pass
        it to the filesystem below), so the path names what holds the files, and tmpfs is memory whatever the
        probe says (Linux 6.6+ accepts O_DIRECT on tmpfs)."""
        if self._host_path is None:
            variant = self.spec.variant
            fs = "tmpfs" if variant == "tmpfs" else filesystem_of(self._storage_host_path())
            what = {"volume": "a volume", "bind": "a bind mount of a directory", "tmpfs": "a tmpfs mount",
                    "layer": "the overlayfs writable layer"}[variant]
            self._host_path = on_filesystem(what, fs)
        return self._host_path

    def teardown(self) -> None:
        self.context.remove_scratch(self._bind_dir)
        self._bind_dir = None
        if self.client is None:
            return
        try:
            remove_labelled(self.client, self.context.run_id, self.spec.label)
            self.context.ledger.forget_docker()
        except Exception as exc:  # a dead engine: the ledger keeps the run listed, so `vbench clean` finishes it
            self.lifecycle.notes.append(f"could not remove the container: {_first_line(exc)}; vbench clean will")
        finally:
            self.client.close()
            self.client = None

    @property
    def workdir(self) -> str:
        return WORKDIR

    @property
    def runner_argv(self) -> list[str]:
        return ["python3", f"{GUEST_ROOT}/workloads/run.py"]

    def open_worker(self) -> DockerExecPipe:
        try:
            return DockerExecPipe(self.client.api, self.container.id,
                                  ["python3", f"{GUEST_ROOT}/workloads/worker.py"], WORKDIR)
        except Exception as exc:  # the engine or the container went away: stop this environment, as a trial would
            self.stop_with(f"the Docker engine failed: {_first_line(exc)}")
            raise WorkerLost(f"environment {self.spec.label} stopped: {self.stopped}") from exc

    def transport(self, argv: list[str], timeout: float, on_start: OnStart | None) -> Execution:
        start = time.perf_counter()
        try:
            return self._exec(argv, timeout, on_start, start)
        except Exception as exc:  # the engine or the container went away: stop this environment, not the run
            self.stop_with(f"the Docker engine failed: {_first_line(exc)}")
            return Execution("", "", None, time.perf_counter() - start,
                             error=f"environment {self.spec.label} stopped: {self.stopped}")

    def _exec(self, argv: list[str], timeout: float, on_start: OnStart | None, start: float) -> Execution:
        api = self.client.api
        exec_id = api.exec_create(self.container.id, argv, workdir=WORKDIR)["Id"]
        output: dict = {}
        worker = threading.Thread(target=lambda: output.update(out=api.exec_start(exec_id, demux=True)),
                                  daemon=True)
        worker.start()
        pid = _exec_pid(api, exec_id, worker)
        if on_start:
            on_start(Handle(pid=pid, cgroups=self.cgroup_paths, container_id=self.container.id))
        try:
            worker.join(timeout)
        except BaseException:
            _kill_tree(pid)
            raise
        timed_out = worker.is_alive()
        if timed_out:
            _kill_tree(pid)
            worker.join(30)
        wall = time.perf_counter() - start
        stdout, stderr = output.get("out") or (b"", b"")
        code = api.exec_inspect(exec_id).get("ExitCode")
        return Execution((stdout or b"").decode(errors="replace"), (stderr or b"").decode(errors="replace"),
                         code, wall, timed_out)

    def first_output_s(self, timeout: float) -> float:
        """A new container of the same image and runtime: create, start, and its first line of output.

        The attach stream blocks until the container writes; a watchdog kills the container at ``timeout``, which
        ends the stream, so a container that never speaks fails the trial in time (not at the SDK's socket
        timeout)."""
        labels = {LABEL: self.context.run_id, "vbench.env": f"{self.spec.label}-startup", **ownership_labels()}
        start = time.perf_counter()
        container = self.client.containers.create(
            self.context.options.image or default_tag(), ["python3", "-c", "print('ready', flush=True)"],
            labels=labels, network_mode="none", runtime=self.runtime, cap_drop=["ALL"],
            security_opt=["no-new-privileges"])
        expired = threading.Event()

        def kill() -> None:
            expired.set()
            try:
                container.kill()
            except Exception:  # already gone: the stream has ended anyway
                pass

        watchdog = threading.Timer(timeout, kill)
        watchdog.daemon = True
        try:
            stream = container.attach(stdout=True, stderr=True, stream=True, logs=True)
            watchdog.start()
            container.start()
            said = b""
            for chunk in stream:
                if b"ready" in chunk:
                    return time.perf_counter() - start
                said = (said + chunk)[-200:]
            if expired.is_set():
                raise TimeoutError(f"the container did not print 'ready' within {timeout:g}s")
            raise RuntimeError(f"the container did not print 'ready' (it said {said.decode(errors='replace')!r})")
        finally:
            watchdog.cancel()
            container.remove(force=True)

    def counters(self) -> dict | None:
        try:
            return engine_counters(self.client.api.stats(self.container.id, stream=False, one_shot=True))
        except Exception:  # stats are a cross-check; a failure must not fail the trial
            return None

    def fingerprint(self) -> dict:
        info = self.client.info()
        return {**super().fingerprint(), "docker_version": self.client.version().get("Version"),
                "storage_driver": info.get("Driver"),
                "backing_filesystem": dict(info.get("DriverStatus") or []).get("Backing Filesystem"),
                "cgroup_version": info.get("CgroupVersion"), "cgroup_driver": info.get("CgroupDriver"),
                "runtime": self.runtime, "image": self.context.options.image or default_tag(),
                "image_id": self.image_id, "container_id": self.container.id if self.container else None,
                "blkio_counting_rule": {"device": self.throttle_device, "rate_bps": COUNTING_RATE_BPS}
                if self.throttle_device else None,
                "blkio_accounting": bool(self.throttle_device) or info.get("CgroupVersion") == "2",
                "cpus": self.context.options.cpus, "memory": self.context.options.memory}


def probe_runtime(client, runtime: str, image: str) -> tuple[bool, str]:
    """Whether the engine can really start a container with ``runtime`` (registered is not enough: crun, for
    one, refuses cgroup v1/v2 hybrid hosts). The probe container is labelled and removed."""
    if runtime not in client.info().get("Runtimes", {}):
        return False, f"{runtime} is not registered with dockerd"
    labels = {LABEL: "runtime-probe", **ownership_labels()}
    try:
        client.containers.run(image, ["true"], runtime=runtime, remove=True, network_mode="none", labels=labels)
    except Exception as exc:  # the engine's error says why
        remove_labelled(client, "runtime-probe", owner=labels[OWNER_LABEL])
        return False, _first_line(exc)
    return True, "starts containers"


def engine_counters(stats: dict) -> dict:
    """Cumulative CPU and block I/O of a container from the Engine API's stats (the cross-check)."""
    entries = (stats.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []
    total = {"Read": 0, "Write": 0}
    for entry in entries:
        op = str(entry.get("op", "")).capitalize()
        if op in total:
            total[op] += int(entry.get("value", 0))
    usage = ((stats.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage", 0)
    return {"io_read_bytes": total["Read"], "io_write_bytes": total["Write"], "cpu_usage_s": usage / 1e9}


def cgroup_paths(pid: int, proc_root: str = "/proc", cgroup_root: str = "/sys/fs/cgroup") -> dict[str, str]:
    """The container's cgroup directories, read from its init process's /proc/<pid>/cgroup.

    cgroup v1: one per controller (``cpuacct``, ``cpu``, ``memory``, ``blkio``); v2: the one unified path
    under the key ``""``.
    """
    paths = {}
    for line in Path(f"{proc_root}/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            if os.path.exists(f"{cgroup_root}/cgroup.controllers"):  # pure v2, not a hybrid's unified tree
                paths[""] = f"{cgroup_root}{path}"
            continue
        for controller in set(controllers.split(",")) & {"cpuacct", "cpu", "memory", "blkio"}:
            mount = next((m for m in (controllers, controller) if os.path.isdir(f"{cgroup_root}/{m}")), controller)
            paths[controller] = f"{cgroup_root}/{mount}{path}"
    return paths


def _exec_pid(api, exec_id: str, worker: threading.Thread) -> int | None:
    """The host PID of the exec'd process, polled until the engine reports it (or the exec already ended)."""
    for _ in range(200):
        pid = api.exec_inspect(exec_id).get("Pid")
        if pid or not worker.is_alive():
            return pid or None
        time.sleep(0.005)
    return None


def _kill_tree(pid: int | None) -> None:
    if not pid:
        return
    try:
        root = psutil.Process(pid)
        for proc in [*root.children(recursive=True), root]:
            proc.kill()
    except psutil.Error:
        pass


def _block_device(path: str | None) -> str | None:
    """The whole-disk device node (e.g. /dev/vda) holding ``path``, for a blkio rule; None when there is none."""
    if not path:
        return None
    try:
        dev = os.stat(path).st_dev
    except OSError:
        return None
    sys_dir = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}")
    if not sys_dir.exists():
        return None
    sys_dir = sys_dir.resolve()
    if (sys_dir / "partition").exists():
        sys_dir = sys_dir.parent
    node = Path("/dev") / sys_dir.name
    return str(node) if node.exists() else None


def default_tag() -> str:
    from vbench.images import guest_image

    return guest_image().tag


def _image_present(client) -> bool:
    import docker.errors

    try:
        client.images.get(default_tag())
        return True
    except docker.errors.ImageNotFound:
        return False


def shared_mounts() -> dict:
    """vbench's workloads and the third-party workloads' packages, read-only, where the runner looks for them."""
    plugins = {str(source): {"bind": f"{GUEST_PLUGINS}/{source.name}", "mode": "ro"}
               for source in catalog.plugin_sources()}
    return {str(WORKLOADS_DIR): {"bind": f"{GUEST_ROOT}/workloads", "mode": "ro"}, **plugins}
