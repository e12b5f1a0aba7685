"""Parser speed against a yardstick: messages/s next to plain jieba.lcut in the parser's own
mode (HMM off) on the same messages, interleaved; the slowest adversarial message at the length
cap; build time for 32 and 5,000 projects; resident memory. The ratio is on the last line.
Run: .venv/bin/python bench/parse_bench.py"""

from __future__ import annotations

import datetime as dt
import gc
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 7
HMM = False  # the parser's mode: jieba's HMM for unknown words is off
sys.path.insert(0, str(ROOT))

from nlp.parser import MAX_CHARS, Parser, _base_tokenizer  # noqa: E402
from nlp.registry import entries_from_ledger  # noqa: E402
from nlp.types import ProjectEntry  # noqa: E402

# Our own varied messages (not the shared corpus): reports, lists, issues, chatter.
MESSAGES = [
    "三一产业基地今天主体封顶，本月完成投资1.2亿元",
    "钢铁城形象进度达到七成，累计完成投资23亿元。",
    "驱动电机项目计划下周三开工，施工许可证已经拿到了。",
    "清水塘大桥预计6月底通车，目前桥面铺装基本完成。",
    "道岔二期征拆工作还没完成，还有4户未搬迁，请区征拆办协调。",
    "收到",
    "请问月报什么时候交？",
    "1、华锐精密二期：本月完成投资800万元；2、旭日陶瓷二期：计划下月中旬试生产；"
    "3、松井汽车涂料：环评批复还没下来。",
    "博迈医疗基地资金缺口较大，银行贷款迟迟没有到位，希望帮忙对接金融机构。",
    "文体中心受连续降雨影响停工三天，形象进度约35%。",
    "永磁动力项目暂未取得施工许可证，力争本月底前办好。",
    "今天上午举行了开工仪式",
    "北斗研产基地一季度完成投资3500万元，二季度计划完成5000万元。",
    "风电齿轮箱项目已于4月18日竣工，计划5月初组织竣工验收。",
    "各位领导好，请大家周五前报送本月调度表。",
    "铁东路新建工程没有按计划通车，主要是雨污管网迁改滞后，预计下月底通车。",
    "三一硅能今年以来完成投资9.5亿元，供电专线还没接通。",
    "汉德车桥二期已通过竣工验收👍",
    "生物医药产业园2.1期施工正常，暂无需要协调的问题。",
    "高速扩容东线K15段还有20亩用地没有交付，影响路基施工，恳请协调。",
]


def generated_entries(n: int, seed: int = 0) -> list[ProjectEntry]:
    """A synthetic ledger of n projects with plausible, mostly distinct names."""
    rng = random.Random(seed)
    places = ["荷塘", "石峰", "天元", "芦淞", "渌口", "攸县", "醴陵", "茶陵", "炎陵", "云龙"]
    brands = [a + b for a in "华中新宏金恒盛远东鼎瑞泰安博德海天隆兴宇晨"
              for b in "锐达辉泰源通联科创信利星诚嘉航"]
    kinds = ["新材料产业园", "智能制造基地", "物流中心", "电子信息产业园", "装备制造项目",
             "道路改造工程", "污水处理厂", "安置房项目", "学校建设项目", "医院扩建工程",
             "光伏电站", "数据中心", "冷链仓储基地", "汽车零部件项目", "生物医药产业园"]
    surnames, given = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗", "伟芳娜敏静丽强磊军洋勇艳杰涛明超"
    out = []
    for i in range(n):
        brand, kind = rng.choice(brands), rng.choice(kinds)
        phase = rng.choice(["", "", "一期", "二期", "三期"])
        name = f"{rng.choice(places)}{brand}{kind}{phase}"
        short = f"{brand}{kind[:2]}{phase}"
        contacts = (rng.choice(surnames) + rng.choice(given) + rng.choice(given),)
        out.append(ProjectEntry(f"G{i:05d}", name, (short,), contacts))
    return out


def interleaved(runs: dict[str, Callable[[], object]], rounds: int = ROUNDS
                ) -> dict[str, list[float]]:
    """CPU seconds of this process per round of each run (one core; the machine is shared,
    so wall time would measure the neighbours too), the runs alternating round by round so
    that what load remains falls on all of them alike."""
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            gc.collect()
            t0 = time.process_time()
            run()
            times[name].append(time.process_time() - t0)
    return times


def worst_at_the_cap(parser: Parser, sent: dt.date) -> tuple[float, str]:
    """The slowest of adversarial messages at the length cap (repeated pieces that once made
    a regex quadratic), best of three each: (seconds, piece)."""
    pieces = ["9", "三一产业基地今天开工，", "🎉", "（", "1、", "百分之", "\n", " ", "\t", "。",
              ",", "一二三四五六七八九十百千万亿点", "计划\n", "各位", "嗯", "了", "前", "月",
              "开的工",
              "完成投资", "项目编号\t简称\n", "P007\t钢铁城\t500\n", "存在问题\n无\n",
              "二、下月计划\n", "壹佰贰拾万元", "零十五万", "还没", "主体风顶"]
    # and whole messages: a retraction word, then a long run of separators (错 + 4,090 spaces
    # once took the corrections' search over a second).
    whole = ["错" + " " * (MAX_CHARS - 2) + "x", "不对" + "，" * (MAX_CHARS - 2),
             "说错了" + "\u3000，" * ((MAX_CHARS - 4) // 2) + "是", "错" + "，不对" * 1365]
    worst = (0.0, "")
    for piece in pieces + whole:
        text = (piece * (MAX_CHARS // len(piece) + 1))[:MAX_CHARS] if piece in pieces else piece
        best = min(_timed(lambda t=text: parser.parse(t, sender="孙浩", sent=sent))
                   for _ in range(3))
        worst = max(worst, (best, piece))
    return worst


def _timed(run: Callable[[], object]) -> float:
    t0 = time.process_time()
    run()
    return time.process_time() - t0


def main() -> None:
    proc = psutil.Process(os.getpid())
    t0 = time.perf_counter()
    _base_tokenizer()
    base_load = time.perf_counter() - t0

    entries = entries_from_ledger(ROOT / "examples" / "ledger.csv")
    t0 = time.perf_counter()
    parser = Parser(entries)
    build_32 = time.perf_counter() - t0

    big = generated_entries(5000)
    gc.collect()
    t0 = time.perf_counter()
    big_parser = Parser(big)
    build_5000 = time.perf_counter() - t0

    sent = dt.date(2023, 5, 10)
    messages = MESSAGES * 50  # 1,000 messages
    for msg in MESSAGES:  # warm-up (regex caches, jieba route tables)
        parser.parse(msg, sender="孙浩", sent=sent)
        _base_tokenizer().lcut(msg, HMM=HMM)

    tk = _base_tokenizer()
    # The yardstick: plain jieba.lcut in the parser's own mode (HMM off), the same messages,
    # interleaved with the parser round by round.
    times = interleaved({
        "parse": lambda: [parser.parse(m, sender="孙浩", sent=sent) for m in messages],
        "lcut": lambda: [tk.lcut(m, HMM=HMM) for m in messages],
        "parse5000": lambda: [big_parser.parse(m, sender=None, sent=sent) for m in messages],
    })
    n = len(messages)
    ratios = sorted(p / j for p, j in zip(times["parse"], times["lcut"], strict=True))

    def rate(name: str) -> str:
        per = sorted(n / t for t in times[name])
        return f"{per[0]:,.0f} / {per[len(per) // 2]:,.0f} / {per[-1]:,.0f}"

    worst_s, worst_piece = worst_at_the_cap(parser, sent)
    print(f"messages per round    {n} ({ROUNDS} rounds, interleaved; min / median / max)")
    print(f"parse (32 projects)   {rate('parse')} messages/s")
    print(f"parse (5000 projects) {rate('parse5000')} messages/s")
    print(f"jieba.lcut HMM={HMM!s:5s}  {rate('lcut')} messages/s")
    print(f"slowest at the cap    {worst_s * 1000:.0f} ms for {MAX_CHARS} characters "
          f"(message {worst_piece[:12]!r}, repeated or whole)")
    print(f"jieba base dictionary {base_load:.2f} s (once per process)")
    print(f"build, 32 projects    {build_32:.2f} s")
    print(f"build, 5000 projects  {build_5000:.2f} s "
          f"(first Parser in a process adds the dictionary load: {base_load + build_5000:.2f} s)")
    print(f"resident memory       {proc.memory_info().rss / 2**20:.0f} MiB")
    print(f"ratio parse/lcut      {ratios[0]:.2f} / {ratios[len(ratios) // 2]:.2f} / "
          f"{ratios[-1]:.2f} (min / median / max; target ≤ 3)")


if __name__ == "__main__":
    main()
