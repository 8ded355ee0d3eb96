"""The guest image recipe: mirror discovery, the cache key, kernel selection and the cache listing."""
from __future__ import annotations

import pytest

from vbench import images
from vbench.errors import VBenchError


def test_mirror_from_deb822_skips_security(tmp_path):
    sources = tmp_path / "debian.sources"
    sources.write_text("Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\n"
                       "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n")
    assert images.apt_mirror((str(sources),)) == "http://mirror.example/debian"


def test_mirror_from_one_line_sources(tmp_path):
    sources = tmp_path / "sources.list"
    sources.write_text("# comment\ndeb [arch=amd64] http://ftp.example/debian bookworm main\n")
    assert images.apt_mirror((str(tmp_path / "missing"), str(sources))) == "http://ftp.example/debian"
    assert images.apt_mirror((str(tmp_path / "missing"),)) == images.DEFAULT_MIRROR


def test_recipe_hash_follows_the_recipe():
    assert images.recipe_hash() == images.recipe_hash(dict(images.RECIPE))
    changed = {**images.RECIPE, "packages": [*images.RECIPE["packages"], "strace"]}
    assert images.recipe_hash(changed) != images.recipe_hash()
    assert images.RECIPE["init"]  # the VM init script is part of the key


def test_cache_root_and_image_paths(monkeypatch, tmp_path):
    monkeypatch.setenv("VBENCH_CACHE", str(tmp_path))
    image = images.guest_image()
    assert image.dir == tmp_path / f"guest-{images.recipe_hash()}"
    assert image.tag == f"vbench/guest:{image.hash}" and not image.complete


def test_kernel_choice(tmp_path):
    image = images.GuestImage("h", tmp_path)
    boot = tmp_path / "rootfs" / "boot"
    boot.mkdir(parents=True)
    for name in ("vmlinuz-6.1.0-50-cloud-amd64", "vmlinuz-6.1.0-50-amd64"):
        (boot / name).write_text("")
    assert image.kernel("cloud")[0].name == "vmlinuz-6.1.0-50-cloud-amd64"
    kernel, initrd = image.kernel("generic")
    assert kernel.name == "vmlinuz-6.1.0-50-amd64" and initrd.name == "initrd.img-6.1.0-50-amd64"
    (boot / "vmlinuz-6.1.0-50-cloud-amd64").unlink()
    with pytest.raises(VBenchError, match="no cloud kernel"):
        image.kernel("cloud")


def test_listing_marks_the_current_recipe(monkeypatch, tmp_path):
    monkeypatch.setenv("VBENCH_CACHE", str(tmp_path))
    for digest in (images.recipe_hash(), "0ld0ld0ld0ld"):
        (tmp_path / f"guest-{digest}").mkdir()
        (tmp_path / f"guest-{digest}" / "recipe.json").write_text("{}")
    (tmp_path / "guest-unfinished").mkdir()
    rows = {row["hash"]: row for row in images.listing()}
    assert set(rows) == {images.recipe_hash(), "0ld0ld0ld0ld"}
    assert rows[images.recipe_hash()]["current"] and not rows["0ld0ld0ld0ld"]["current"]


def test_prune_removes_only_outdated_builds(tmp_path):
    current = images.GuestImage("new", tmp_path / "guest-new")
    for name in ("guest-new", "guest-old"):
        (tmp_path / name).mkdir()
    (tmp_path / "kvm-probe.json").write_text("{}")
    said = []
    images.prune(current, None, said.append)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["guest-new", "kvm-probe.json"]
    assert said == ["removed the outdated build guest-old"]
