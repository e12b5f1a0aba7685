"""Domain words: added to jieba's dictionary (so they segment as one word) and used by rules."""

from __future__ import annotations

# Words jieba should keep whole: milestones, issues, negations, scopes.
DOMAIN_WORDS: tuple[str, ...] = (
    "征拆", "征地", "清表", "拆迁", "施工许可证", "施工许可", "四证齐全", "形象进度", "整体进度",
    "竣工验收", "通过验收", "主体封顶", "主体完工", "破土动工", "进场施工", "试生产", "投入使用",
    "土地出让", "摘牌", "签约", "投资协议", "完成投资", "累计完成", "开工以来", "总投资",
    "计划投资", "年度计划", "资金缺口", "完成率", "还没", "尚未", "暂未", "未能", "没能",
    "还未", "暂无", "无需", "推迟到", "专项债", "电力迁改", "雨污管网", "环评批复", "规划许可",
    "施工图审查", "消防设计审查", "本季度", "一季度", "二季度", "三季度", "四季度", "上半年",
    "下半年", "下月底", "月底", "中旬", "本周五", "下周三",
    # site jargon that voice matching must not read as a milestone (商砼车 is no 通车)
    "商砼", "商砼车", "砼车", "罐车", "泵车",
)

# Generic parts of project names: never enough on their own to name a project.
GENERIC_NAME_WORDS: frozenset[str] = frozenset("""
项目 工程 建设 建设项目 新建 新建工程 改造 改造工程 扩建 扩容 升级 转型 改扩建 提升 产能
一期 二期 三期
四期 产业 产业园 产业基地 基地 园区 园 中心 生产 研发 制造 年产 智能 智能化 高端 新能源 配套 核心
国家 重点 实验室 高性能 有限公司 公司 集团 湖南 湖南省 株洲 株洲市 长株潭 中国 科技 技术 股份
生产基地 研发基地 制造基地 产业项目 配套产业 装备 轨道交通 新材料 材料 汽车 动力 电池 电机 万吨
台套 交通 及 和 与 的 段 路 大道 快速化 文化 艺术 体育 活力 智慧 物流 学校 医疗 生物 数字 健康
""".split())

# Suffixes that make a bare fragment read as a project (永磁项目, 北斗基地, 华锐二期).
PROJECT_SUFFIXES: tuple[str, ...] = ("项目", "工程", "基地", "产业园", "园区", "二期", "一期",
                                     "三期", "电站", "中心", "大桥", "大道", "改造")

# Leading place words dropped to form aliases (湖南博羿新产业基地 → 博羿新产业基地).
PLACE_PREFIXES: tuple[str, ...] = ("湖南省", "湖南", "株洲市", "株洲", "长株潭", "中国")

# A fragment directly followed by one of these is a place (荷塘区), not a project.
PLACE_SUFFIXES = "区县市镇乡村街"

# Words matched by sound (voice input writes 主体风顶 for 主体封顶): milestones, problems, scopes
# and the words that frame figures. Longer forms first matter little: the matcher prefers the
# longest at each place.
SOUND_WORDS: tuple[str, ...] = (
    # milestones
    "签约", "投资协议", "摘牌", "拿地", "土地出让", "施工许可证", "施工许可", "四证齐全", "开工",
    "动工", "破土动工", "进场施工", "主体封顶", "封顶", "竣工", "完工", "主体完工", "竣工验收",
    "通过验收", "验收", "投产", "试生产", "投入使用", "开业", "运营", "试运营", "通车",
    # problems and their categories
    "征地", "拆迁", "征拆", "清表", "用地", "资金", "资金缺口", "缺口", "贷款", "融资", "拨付",
    "专项债", "审批", "环评", "环评批复", "手续", "规划许可", "报建", "供电", "用电", "电力迁改",
    "管网", "停工", "劳务", "施工单位", "协调", "滞后", "困难",
    # figures and their scopes
    "完成投资", "累计完成", "形象进度", "进度", "本月", "当月", "本季度", "季度", "年度", "累计",
    "开工以来",
    # negations, which decide a status (尚为建成 is 尚未建成)
    "尚未",
)
