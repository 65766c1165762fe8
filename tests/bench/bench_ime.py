"""Pinyin keyboard benchmarks (`kiosk bench ime`): the time a key press takes (the keyboard re-reads
the whole buffer on each one) with the stored tables the UI uses (kiosk.pinyin_data), against the same
lexicon held in memory, measured in the same run; and what each costs a process's memory (RSS of a
fresh child that opens the keyboard and indexes the catalog either way).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

from kiosk.pinyin_data import lexicon_file
from kiosk.pinyin_ime import Lexicon, PinyinIME, StoredLexicon, build_lexicon

INPUTS = ["beijingshi", "zhangsan", "lujiedao", "xiaoqu", "renminlu", "woxiangqubeijing", "zhuang"]
TARGET_MS = 20.0  # a key press must feel instant

_CHILD = """
import json, sys
from kiosk.catalog import load_catalog
from kiosk import catalog_search, pinyin_data, pinyin_ime
if sys.argv[1] == "memory":  # the fallback: pypinyin and the tables in this process
    pinyin_data.data_file = lambda: (_ for _ in ()).throw(pinyin_data.PinyinDataError("bench"))
ime = pinyin_ime.PinyinIME(pinyin_ime.lexicon())
for letter in "beijingshi":
    ime.type(letter)
ime.candidates()
catalog_search.CatalogIndex(load_catalog().items).search("sbk")
rss = next(line for line in open("/proc/self/status") if line.startswith("VmRSS:"))
print(json.dumps({"rss_kb": int(rss.split()[1]), "pypinyin": "pypinyin" in sys.modules}))
"""


def _key_press_ms(lex: Lexicon) -> list[float]:
    times: list[float] = []
    for letters in INPUTS:
        ime = PinyinIME(lex)
        for letter in letters:
            start = time.perf_counter()
            ime.type(letter)
            ime.candidates()
            times.append((time.perf_counter() - start) * 1000)
    return times


def _child_rss(mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", _CHILD, mode], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    stored, memory = StoredLexicon(lexicon_file()), build_lexicon()  # both with empty caches
    presses = f"{len(INPUTS)} inputs, {sum(map(len, INPUTS))} presses"
    print(f"key press → candidates, {presses} (target ≤ {TARGET_MS:.0f} ms):")
    for run in ("first time (empty caches)", "again"):
        a, b = _key_press_ms(stored), _key_press_ms(memory)
        p95 = [statistics.quantiles(t, n=20)[-1] for t in (a, b)]
        print(
            f"  {run}: stored tables (the UI's) median {statistics.median(a):.2f} ms, p95 {p95[0]:.2f} ms; "
            f"baseline, the lexicon in memory, median {statistics.median(b):.2f} ms, p95 {p95[1]:.2f} ms "
            f"(ratio {statistics.median(a) / statistics.median(b):.2f}× at the median)"
        )
    on_disk, in_memory = _child_rss("stored"), _child_rss("memory")
    print(
        "process RSS after opening the keyboard and indexing the catalog: "
        f"stored {on_disk['rss_kb'] / 1024:.0f} MB (pypinyin imported: {on_disk['pypinyin']}), "
        f"in memory {in_memory['rss_kb'] / 1024:.0f} MB (pypinyin imported: {in_memory['pypinyin']}); "
        f"saved {(in_memory['rss_kb'] - on_disk['rss_kb']) / 1024:.0f} MB"
    )


if __name__ == "__main__":
    main()
