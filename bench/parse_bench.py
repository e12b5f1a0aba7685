"""Parser speed: messages/s against plain jieba.lcut, build time for 32 and 5,000 projects,
resident memory. Run: .venv/bin/python bench/parse_bench.py"""

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
ROUNDS = 5
sys.path.insert(0, str(ROOT))

from nlp.parser import Parser, _base_tokenizer  # noqa: E402
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


def best(run: Callable[[], object], rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return min(times)


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
        parser._tk.lcut(msg)

    tk = _base_tokenizer()
    gc.collect()
    # Best of several rounds: the figure we want is the code's, not the machine's other load.
    parse_s = best(lambda: [parser.parse(m, sender="孙浩", sent=sent) for m in messages])
    jieba_s = best(lambda: [tk.lcut(m) for m in messages])
    big_s = best(lambda: [big_parser.parse(m, sender=None, sent=sent) for m in messages])

    n = len(messages)
    print(f"messages              {n}")
    print(f"parse (32 projects)   {n / parse_s:,.0f} messages/s  ({parse_s / n * 1e6:.0f} µs each)")
    print(f"parse (5000 projects) {n / big_s:,.0f} messages/s")
    print(f"plain jieba.lcut      {n / jieba_s:,.0f} messages/s  ({jieba_s / n * 1e6:.0f} µs each)")
    print(f"ratio parse/jieba     {parse_s / jieba_s:.2f}")
    print(f"jieba base dictionary {base_load:.2f} s (once per process)")
    print(f"build, 32 projects    {build_32:.2f} s")
    print(f"build, 5000 projects  {build_5000:.2f} s "
          f"(first Parser in a process adds the dictionary load: {base_load + build_5000:.2f} s)")
    print(f"resident memory       {proc.memory_info().rss / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
