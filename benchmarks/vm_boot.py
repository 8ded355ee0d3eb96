"""VM boot time: QEMU start to guest agent ready, over several boots of the vm environment.

Prints each boot and the median last. Pass --accel tcg or kvm (auto probes KVM first, as vbench run does).

    .venv/bin/python benchmarks/vm_boot.py [--boots 5] [--variant virtio] [--accel tcg]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile

from vbench import envs
from vbench.envs.base import Context


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boots", type=int, default=5)
    parser.add_argument("--variant", default="virtio")
    parser.add_argument("--accel", default="tcg", choices=["auto", "kvm", "tcg"])
    args = parser.parse_args()
    spec, cls = envs.resolve(f"vm:{args.variant}")
    availability = cls.available()
    if not availability.ok:
        raise SystemExit(f"vm unavailable: {availability.reason}")
    boots, accel = [], None
    with tempfile.TemporaryDirectory(prefix="vbench-vm-boot-") as scratch:
        for n in range(args.boots):
            with cls(spec, Context(f"boot-bench-{n}", scratch, {"accel": args.accel})) as env:
                boots.append(env.guest.boot_s)
                accel = env.config.accel
                print(f"boot {n + 1}/{args.boots}: {env.guest.boot_s:.2f}s ({accel}, {env.config.kernel})",
                      flush=True)
    print(f"vm:{args.variant} boot to agent ready under {accel}, median of {len(boots)}: "
          f"{statistics.median(boots):.2f}s")


if __name__ == "__main__":
    main()
