"""kiosk.memory: freed heap memory really goes back to the system (glibc), big blocks at once after
tune_allocator, and the calls are safe."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from kiosk import memory


def test_release_reports_whether_it_can_trim():
    assert memory.release_freed() is (memory._libc_function("malloc_trim") is not None)


@pytest.mark.skipif(memory._libc_function("malloc_trim") is None, reason="not glibc")
def test_freed_small_blocks_are_returned_to_the_system():
    # Many small blocks (below mmap's threshold: they live in the heap) freed except the last one
    # keep the heap's top in use, so glibc cannot shrink it by itself; malloc_trim gives back the
    # free pages inside it. Measured in a fresh interpreter, so this test run's own heap does not count.
    script = textwrap.dedent(
        """
        from kiosk import memory

        def rss_kb():
            with open("/proc/self/status") as status:
                return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))

        blocks = [bytearray(4000) for _ in range(50_000)]  # ~200 MB in the heap
        keep = blocks[-1]
        del blocks
        before = rss_kb()
        memory.release_freed()
        print(before - rss_kb())
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert int(out.stdout) > 100_000  # kB: most of the ~200 MB freed came back


def test_later_runs_on_its_own_thread(monkeypatch):
    import threading

    ran = threading.Event()
    monkeypatch.setattr(memory, "release_freed", lambda: ran.set() or True)
    memory.release_freed_later()
    assert ran.wait(5)


FREED_BIG_BLOCKS = textwrap.dedent(
    """
    import sys
    from kiosk import memory

    def rss_kb():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))

    if sys.argv[1] == "tuned":
        print(memory.tune_allocator())
    big = bytearray(8 * 2**20)  # a 12 MP frame's worth, mapped and unmapped: glibc then serves
    del big  # blocks up to 8 MiB from the heap, unless the threshold is fixed
    blocks = [bytearray(512 * 1024) for _ in range(200)]  # ~100 MB of textures and JPEG pages
    keep = blocks[-1]
    del blocks
    print(rss_kb())
    """
)


@pytest.mark.skipif(memory._libc_function("mallopt") is None, reason="not glibc")
def test_tuned_allocator_gives_big_freed_blocks_back_at_once():
    def run(mode: str) -> list[str]:
        done = subprocess.run([sys.executable, "-c", FREED_BIG_BLOCKS, mode], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    tuned_ok, tuned_kb = run("tuned")
    (plain_kb,) = run("plain")
    assert tuned_ok == "True"
    # Without tuning the freed 512 KiB blocks stay in the heap under the one still kept.
    assert int(plain_kb) - int(tuned_kb) > 80_000
