"""The guest image: one Debian root filesystem for containers and VMs, built offline and cached.

``debootstrap --variant=minbase`` from the Debian mirror apt is configured with (no registry is needed), with
python3, numpy and fio for the workloads, iperf3 and sockperf for the network ones, pytest and pytest-benchmark
for users' own benchmarks, and a kernel package whose /boot and /lib/modules a VM can boot.
The same directory is ``docker import``ed as ``vbench/guest:<recipe hash>`` and (for VMs) written as an ext4
image, so containers and VMs run the same bits. Everything lives under ``~/.cache/vbench/guest-<hash>/`` and is
rebuilt only when the recipe changes.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from vbench.diskspace import NoSpace, check_free, free_bytes, size_text, writing
from vbench.errors import VBenchError
from vbench.hosts import last_line
from vbench.model import GUEST_ROOT

REPOSITORY = "vbench/guest"
# Free space a build needs, measured on this recipe: the root filesystem (0.9 GiB) and its tar (0.9 GiB); the VM
# disk (0.9 GiB) is checked on its own, at its computed size. Below FULL_BYTES after a failed step, the disk was
# full.
ROOTFS_NEED_BYTES = 2 << 30
FULL_BYTES = 64 << 20
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# The VM's init (root disk, read-only): basic mounts, then the per-run payload disk's guest-init.sh, which
# mounts the storage under test and starts the agent. Kept tiny so that changing vbench rarely rebuilds images.
GUEST_INIT = """#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
modprobe virtio_blk 2>/dev/null
for d in /sys/block/vd*; do
    [ "$(cat "$d/serial" 2>/dev/null)" = vbench-payload ] && payload=/dev/${d##*/}
done
mount -o ro "${payload:-/dev/vdb}" @ROOT@ && exec /bin/sh @ROOT@/guest-init.sh
echo "vbench-init: the payload disk did not mount" >&2
poweroff -f
""".replace("@ROOT@", GUEST_ROOT)
RECIPE = {
    "recipe": 3,
    "init": hashlib.sha256(GUEST_INIT.encode()).hexdigest(),
    "suite": "bookworm",
    "variant": "minbase",
    "packages": ["python3", "python3-numpy", "python3-pytest", "python3-pytest-benchmark", "fio",
                 "iperf3", "sockperf", "initramfs-tools", "linux-image-cloud-amd64", "linux-image-amd64"],
}

Say = Callable[[str], None]


@dataclass(frozen=True)
class GuestImage:
    """Where the cached pieces of one recipe live."""

    hash: str
    dir: Path

    @property
    def rootfs(self) -> Path:
        return self.dir / "rootfs"

    @property
    def tar(self) -> Path:
        return self.dir / "rootfs.tar"

    @property
    def tag(self) -> str:
        return f"{REPOSITORY}:{self.hash}"

    @property
    def disk(self) -> Path:
        return self.dir / "root.ext4"

    def kernel(self, flavour: str) -> tuple[Path, Path]:
        """(vmlinuz, initrd) of the ``cloud`` or ``generic`` kernel in the rootfs's /boot."""
        pattern = "vmlinuz-*-cloud-amd64" if flavour == "cloud" else "vmlinuz-*[0-9]-amd64"
        kernels = sorted((self.rootfs / "boot").glob(pattern))
        if not kernels:
            raise VBenchError(f"no {flavour} kernel in {self.rootfs}/boot: rebuild with `vbench images build`")
        version = kernels[-1].name.removeprefix("vmlinuz-")
        return kernels[-1], self.rootfs / "boot" / f"initrd.img-{version}"

    @property
    def complete(self) -> bool:
        return (self.dir / "recipe.json").is_file() and self.tar.is_file()


def cache_root() -> Path:
    return Path(os.environ.get("VBENCH_CACHE") or Path.home() / ".cache" / "vbench")


def recipe_hash(recipe: dict = RECIPE) -> str:
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def guest_image() -> GuestImage:
    digest = recipe_hash()
    return GuestImage(digest, cache_root() / f"guest-{digest}")


def apt_mirror(sources: tuple[str, ...] = ("/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list")) -> str:
    """The Debian mirror apt uses here (deb822 ``URIs:`` or a one-line ``deb`` entry), else deb.debian.org."""
    for path in sources:
        try:
            text = Path(path).read_text()
        except OSError:
            continue
        for match in re.finditer(r"^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(\S+)", text, re.M):
            url = match.group(1)
            if "security" not in url and url.startswith(("http://", "https://", "file:/")):
                return url
    return DEFAULT_MIRROR


def build_rootfs(image: GuestImage, say: Say) -> None:
    """debootstrap the recipe into ``image.rootfs`` and tar it; atomic: a failed build leaves nothing behind."""
    if os.geteuid() != 0:
        raise VBenchError("building the guest image needs root (debootstrap); run `vbench images build` as root")
    if not shutil.which("debootstrap"):
        raise VBenchError("debootstrap is not installed (apt-get install debootstrap, or run ./setup.sh)")
    image.dir.parent.mkdir(parents=True, exist_ok=True)
    check_free("the guest image cache", image.dir.parent, ROOTFS_NEED_BYTES, "building the guest image")
    work = Path(tempfile.mkdtemp(prefix=f".build-{image.hash}-", dir=image.dir.parent))
    try:
        rootfs = work / "rootfs"
        mirror = apt_mirror()
        say(f"debootstrap {RECIPE['suite']} ({RECIPE['variant']}) from {mirror}: about a minute or two")
        argv = ["debootstrap", f"--variant={RECIPE['variant']}", f"--include={','.join(RECIPE['packages'])}",
                RECIPE["suite"], str(rootfs), mirror]
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            full_now(work, "debootstrap")
            log = work.parent / f"debootstrap-{image.hash}.log"
            log.write_text(done.stdout + done.stderr)
            raise VBenchError(f"debootstrap failed (exit {done.returncode}); log: {log}")
        _trim(rootfs)
        _add_vm_init(rootfs)
        (rootfs / "etc" / "vbench-recipe.json").write_text(json.dumps(RECIPE, sort_keys=True) + "\n")
        say("packing the root filesystem")
        packed = subprocess.run(["tar", "--numeric-owner", "--xattrs", "-C", str(rootfs), "-cf",
                                 str(work / "rootfs.tar"), "."], capture_output=True, text=True)
        if packed.returncode != 0:
            full_now(work, "packing the root filesystem")
            said = last_line(packed.stderr.encode()) or "no message"
            raise VBenchError(f"packing the root filesystem failed: {said}")
        with writing(work / "recipe.json"):
            (work / "recipe.json").write_text(json.dumps({**RECIPE, "hash": image.hash, "mirror": mirror}) + "\n")
        if image.dir.exists():
            shutil.rmtree(image.dir)
        work.rename(image.dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def full_now(where: Path, what: str) -> None:
    """After a step failed: when the cache's filesystem is (nearly) full, that is why, in one line."""
    free = free_bytes(where)
    if free is not None and free < FULL_BYTES:
        raise NoSpace(f"{what} failed with {size_text(free)} free in {where.parent}: the disk is full (the guest "
                      "image needs about 3 GiB); free some space, then vbench images build")


def _add_vm_init(rootfs: Path) -> None:
    init = rootfs / "usr" / "local" / "sbin" / "vbench-init"
    init.write_text(GUEST_INIT)
    init.chmod(0o755)
    for mountpoint in ("opt/vbench", "scratch"):
        (rootfs / mountpoint).mkdir(parents=True, exist_ok=True)


def _trim(rootfs: Path) -> None:
    """Drop apt's caches: they are large and no workload needs them."""
    for sub in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for entry in (rootfs / sub).glob("*"):
            if entry.is_file():
                entry.unlink()


def ensure_docker_image(client, image: GuestImage, say: Say) -> str:
    """The image id of ``image.tag`` in the engine, importing the cached rootfs tar when it is missing."""
    import docker.errors

    try:
        return client.images.get(image.tag).id
    except docker.errors.ImageNotFound:
        pass
    if not image.complete:
        build_rootfs(image, say)
    say(f"docker import {image.tag}")
    client.api.import_image_from_file(str(image.tar), repository=REPOSITORY, tag=image.hash)
    return client.images.get(image.tag).id


def ensure_disk(image: GuestImage, say: Say) -> Path:
    """The VM's root disk: the rootfs written as an ext4 image by ``mkfs.ext4 -d`` (no mount needed)."""
    if image.disk.is_file():
        return image.disk
    if not image.complete:
        build_rootfs(image, say)
    if not shutil.which("mkfs.ext4"):
        raise VBenchError("mkfs.ext4 is not installed (apt-get install e2fsprogs)")
    used = int(subprocess.run(["du", "-sb", str(image.rootfs)], capture_output=True, text=True,
                              check=True).stdout.split()[0])
    size_mb = used * 13 // 10 // 2**20 + 256
    check_free("the guest image cache", image.dir, size_mb << 20, "the VM root disk")
    say(f"writing the VM root disk ({size_mb} MiB ext4)")
    tmp = image.disk.with_suffix(".tmp")
    made = subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "vbench-root", "-d", str(image.rootfs), str(tmp),
                           f"{size_mb}M"], capture_output=True, text=True)
    if made.returncode != 0:
        tmp.unlink(missing_ok=True)
        full_now(image.dir, "writing the VM root disk")
        said = last_line(made.stderr.encode()) or "no message"
        raise VBenchError(f"writing the VM root disk failed: {said}")
    tmp.rename(image.disk)
    return image.disk


def prune(image: GuestImage, client, say: Say) -> None:
    """Remove cached builds and docker images of older recipes (vbench's own cache only)."""
    for directory in image.dir.parent.glob("guest-*"):
        if directory != image.dir and directory.is_dir():
            shutil.rmtree(directory, ignore_errors=True)
            say(f"removed the outdated build {directory.name}")
    if client is None:
        return
    for old in client.images.list(name=REPOSITORY):
        tags = [t for t in old.tags if t.startswith(f"{REPOSITORY}:") and t != image.tag]
        if tags and image.tag not in old.tags:
            try:
                client.images.remove(old.id, force=False)
                say(f"removed the outdated image {', '.join(tags)}")
            except Exception as exc:  # in use by a container: leave it, say so
                say(f"kept {', '.join(tags)}: {str(exc).splitlines()[0][:120]}")


def build(say: Say) -> GuestImage:
    """Build (or reuse) the rootfs, the VM disk, and import it into Docker when an engine answers."""
    image = guest_image()
    if image.complete:
        say(f"guest rootfs {image.hash} is cached in {image.dir}")
    else:
        build_rootfs(image, say)
    ensure_disk(image, say)
    from vbench.dockerclient import docker_client

    client = docker_client()
    if client is None:
        say("no Docker engine answers: the container image is imported when one does")
        prune(image, None, say)
        return image
    try:
        say(f"docker image {image.tag}: {ensure_docker_image(client, image, say)[:19]}")
        prune(image, client, say)
    finally:
        client.close()
    return image


def listing() -> list[dict]:
    """Every cached guest build, with its size and whether it is the current recipe."""
    current = recipe_hash()
    rows = []
    root = cache_root()
    for directory in sorted(root.glob("guest-*")) if root.is_dir() else []:
        meta = directory / "recipe.json"
        if not meta.is_file():
            continue
        size = sum(f.stat().st_size for f in directory.rglob("*") if f.is_file() and not f.is_symlink())
        digest = directory.name.removeprefix("guest-")
        rows.append({"hash": digest, "dir": str(directory), "bytes": size, "current": digest == current,
                     "tag": f"{REPOSITORY}:{digest}"})
    return rows
