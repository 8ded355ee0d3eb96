"""Bring a network interface up with a static IPv4 address, stdlib only (the minimal guest has no iproute2).

``python3 _ifup.py IFACE ADDRESS NETMASK`` (IFACE ``auto``: the first interface that is not ``lo``, since its
name depends on the kernel: eth0, enp0s1...); also brings ``lo`` up. Used by the VM's guest-init for QEMU's
user-mode network (10.0.2.15/24, the host reached through hostfwd).
"""
from __future__ import annotations

import fcntl
import socket
import struct
import sys

SIOCGIFFLAGS, SIOCSIFFLAGS, SIOCSIFADDR, SIOCSIFNETMASK = 0x8913, 0x8914, 0x8916, 0x891C
IFF_UP = 0x1


def _ifreq_addr(name: str, address: str) -> bytes:
    return struct.pack("16sH2s4s8s", name.encode(), socket.AF_INET, b"\0\0", socket.inet_aton(address), b"\0" * 8)


def up(sock: socket.socket, name: str) -> None:
    request = struct.pack("16sH14s", name.encode(), 0, b"\0" * 14)
    flags = struct.unpack("16sH", fcntl.ioctl(sock, SIOCGIFFLAGS, request)[:18])[1]
    fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14s", name.encode(), flags | IFF_UP, b"\0" * 14))


def main(argv: list[str]) -> int:
    name, address, netmask = argv[1:4]
    if name == "auto":
        name = next(n for _, n in socket.if_nameindex() if n != "lo")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        up(sock, "lo")
        fcntl.ioctl(sock, SIOCSIFADDR, _ifreq_addr(name, address))
        fcntl.ioctl(sock, SIOCSIFNETMASK, _ifreq_addr(name, netmask))
        up(sock, name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
