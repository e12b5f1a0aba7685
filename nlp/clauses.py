"""Cutting a message into sentences and clauses, and dropping what records nothing
(questions, notices). Every function keeps offsets: removed text becomes spaces."""

from __future__ import annotations

import re

from nlp.guard import guarded

_SENTENCE = re.compile(r"[^。！？!?\n]*[。！？!?\n]?")
_QUESTION = guarded(r"请问|[？?]\s*$|吗\s*[。.]?\s*$|什么时候|怎么[填报办]|如何[填报办]"
                       # asked without a question mark: 这周进展怎么样, 什么情况怎么还没报
                       r"|怎么样|咋样|什么情况|啥情况|怎么还没|为什么还没|为啥还没")
_NOTICE = guarded(
    r"^\s*(?:【[^】]{0,20}】\s*)?(?:通知|请各|请大家|请于)"
    # 麻烦今天报一下, 请尽快上报: the office asking for a report is not one
    r"|(?:麻烦|请|抓紧|尽快|记得)[^。！？!?\n]{0,40}"
    r"(?:报一下|报送|上报|报过来|报给我|发一下|发过来|填报|更新一下|交上来|交过来|交给我)"
    # 马上核实…后回复: a promise to report later, not a report
    r"|(?:核实|了解|确认|问一下|落实)[^。！？!?\n]{0,20}(?:后|再)(?:回复|报送|反馈|上报)"
    # Instructions to everyone: 各项目要做好防汛, 大家注意…, 各工地注意停工避险
    r"|(?:大家|各位|各(?:项目|单位|工地|业主|施工|责任|相关|部门|标段|企业))[^。！？!?\n]{0,16}?"
    r"(?:注意|务必|要|须|必须|做好|确保|抓紧|加强|严禁|不得|立即|请)"
    # …，请各项目严格落实 closing an order; 请各参会项目负责人提前到场 (not 请各部门配合解决:
    # a request for help)
    r"|请各(?:参会|有关)?(?:项目|单位|工地|业主|施工|标段|企业)[^，,。！？!?\n]{0,10}?"
    r"(?:落实|执行|遵照|遵守|到场|参加|参会|准备材料)"
    # A task handed to an official by a leader (请林晓同志牵头…): an instruction, not a report
    r"|^\s*请[\u4e00-\u9fff]{2,3}同志(?:牵头|负责|督促|跟进)"
    # A report asked for again (5月投资数还没报，麻烦今天补一下; 还有4个项目没报…请补齐)
    r"|(?:没|未|漏)报[^。！？!?\n]{0,30}?(?:麻烦|请)[^，,。！？!?\n]{0,8}?补"
    # A visit announced: 明天区领导到钢铁城调研 (not what a past visit asked for: 按照市领导调研
    # 要求…, 孔区长调研交办的…问题)
    r"|(?:明天|明日|后天|下周|本周|这周|近日|近期|将|拟|计划|准备)[^。！？!?\n]{0,12}?"
    r"(?:领导|书记|区长|市长|县长|主任|局长|督查组|检查组|调研组|督导组)[^。！？!?\n]{0,30}"
    r"(?:调研|视察|督导|观摩|检查)"
    r"(?!交办|要求|指出|发现|时)"
    r"|(?:领导|书记|区长|市长|县长|主任|局长)[^。！？!?\n]{0,6}?(?:将|拟|要)(?:于|到|来)"
    r"[^。！？!?\n]{0,16}(?:调研|视察|督导|观摩|检查指导)"
    # 冯市长明天上午看华锐…，请准备汇报: a visit to come, said plainly
    r"|(?:领导|书记|区长|市长|县长|主任|局长)(?:明天|明日|后天|下周[一二三四五六日]?"
    r"|本周[一二三四五六日]|周[一二三四五六日])(?:上午|下午)?(?:要|将|来|去)?(?:看|到|去)"
    # 请…项目本周五前回复节点情况: a reply asked for by a deadline
    r"|(?:请|麻烦)[^。！？!?\n]{0,40}?前(?:书面)?(?:回复|反馈)"
    # 本周四下午召开调度会，重点调度…: a meeting to come
    r"|(?:明天|明日|后天|下周|本周|这周|周[一二三四五六日]|将|拟|计划)[^。！？!?\n]{0,20}?"
    r"(?:召开|开)[^。！？!?\n]{0,16}?(?:调度会|推进会|座谈会|协调会|会议)[，,]\s*(?:重点)?"
    r"(?:调度|研究|听取)"
    # 以下项目本周已回复：…: who has reported, not what
    r"|(?:以下|下列)项目[^。！？!?\n]{0,8}?(?:已|未|没|还没)(?:回复|报送|上报|报)"
)
# Minutes of a meeting (调度会纪要：…由区住建局牵头): who is to do what, not a report; a new
# contact introducing themselves. (Apart from _NOTICE: a pattern opening with a negated class
# would cost it its first-character guard.)
_MINUTES = re.compile(
    # who is to do what (…由区林业局负责对接, …由住建局牵头)
    r"^\s*【?[^：:\n。]{0,10}?纪要】?\s*[:：][^。！？!?\n]*?(?:由[^，,；;。]{1,10}?(?:负责|牵头)|请[^，,；;。]{1,8}?(?:完成|落实))"
    # a new contact, saying only that (…，以后由我报送，请多关照)
    r"|(?:请多关照|以后由我(?:来)?(?:报送|负责|对接))(?:[，,、\s]*(?:请多关照|谢谢))?[。！!\s]*$")
# Asked for a report or told what to do; searched only where _ASK_HINT is found (speed).
_ASK = guarded(
    # Asked to report, without a 请: 本周情况发一下, 月底前要报一季度投资, 资料本周内报区住建局
    r"(?:情况|进展|进度|数据|资料|材料|月报|周报|报表)[^。！？!?\n]{0,4}?"
    r"(?:发一下|报一下|发过来|报过来|报上来|发给我)"
    r"|(?:要|务必|必须|需要|记得)(?:按时)?(?:上报|报送|填报|提交|报)(?![告道名送的])"
    r"|(?:周内|日内|天内|月底前|本周内|今天内)(?:上报|报送|提交|报)(?![告道名送的])"
    r"|前(?:上报|报送|提交|报)(?:给)?我"  # 周五前报我
    # A meeting called, or a person told what to do (@吕涛 好，要抓紧…)
    r"|(?:开|召开)[^。！？!?\n]{0,6}会[^。！？!?\n]{0,20}(?:参加|参会)"
    r"|(?:开|召开)[^，,。！？!?\n]{0,8}会[，,]\s*请[^，,。！？!?\n]{0,10}?(?:准备材料|准备汇报)"
    # 请把封顶照片发群里, 试生产当天请发个视频: asked for pictures
    r"|请[^，,。！？!?\n]{0,8}?发[^，,。！？!?\n]{0,4}?(?:照片|视频|图片)"
    r"|^\s*@[^\s@]{1,8}\s[^。！？!?\n]{0,12}?(?:要|务必|抓紧|尽快)"
)
_ASK_HINT = re.compile(r"[发报会@]")
# About the reporting itself, not the project: a report not handed in or not received, paused
# or resumed, whose figures count (周报还没交, 这周周报还没收到, 周报暂停一次, 数据以…报的为准).
_ABOUT_REPORT = re.compile(
    r"(?:周报|月报|旬报|日报|季报|年报|快报|报表)[^，,。；;！!？?\n]{0,6}?"
    r"(?:(?:还|仍|尚|一直)?(?:没有?|未)(?:交|报|收到|提交|上报|报送|发)|迟报|漏报|缺报"
    r"|暂停|停报|停发|顺延|延后|推迟|恢复"
    r"|[^，,。；;！!？?\n]{0,6}?以[^，,。；;！!？?\n]{1,12}?为准)")
_CLAUSE_EDGE = re.compile(r"[，,；;：:]")
# A greeting opening a sentence (各位领导好，钢铁城今天开工): only the greeting records nothing.
_GREETING = guarded(
    r"(?:^|(?<=[。！!？?\n]))[ \t]*(?:尊敬的)?(?:各位|诸位)?(?:领导|同事|同志|老师|专班|大家)?们?"
    r"(?:好|早上好|上午好|下午好|晚上好|早)[！!，,。\s]+", re.M)
# A message addressed to everyone is a notice as a whole.
_TO_ALL = re.compile(r"^\s*(?:@(?:所有人|全体成员|全体|all)|【?(?:通知|提醒|重要通知)】?\s*[:：])",
                     re.I)
# Clause boundaries: punctuation and line breaks; then list markers (1、 2. ①) at a clause's
# start are skipped, and a space between Chinese characters (typed instead of a comma) splits.
# A comma inside a number (1,200万元) is a thousands separator, not a clause boundary.
# A transcript without punctuation: 了 followed by a new time, scope or plan word starts a new
# clause (今天主体封顶了本月完成投资…).
_CLAUSE_SPLIT = guarded(
    r"(?:[，；;。！!？?：:\n\r|｜]|(?<!\d),|,(?!\d{3}(?!\d)))+"
    # 进展 1. 主体封顶 2. 完成投资…: a list written on one line. (Tried from a run's first
    # space only: from each of its spaces, a long run was rescanned each time, quadratic.)
    r"|(?<![ \t])[ \t]+(?=(?:\d{1,2}|[一二三四五六七八九十]{1,2})[、.．)）](?!\d))"
    r"|(?<=了)(?=本月|这个月|上个月|今天|昨天|目前|现在|累计|今年|预计|计划|下周|下个?月|但是?|不过"
    r"|同时|主要|就是|还有)"
)
# A report form's label and its value are one clause (形象进度：80%, 开工时间：2023年4月10日,
# 本月完成投资：3500万元); a project heading (钢铁城：…) stays apart from what follows it.
_LABEL_END = guarded(
    r"(?:进度|时间|日期|竣工|开工|投产|验收|封顶|投资|建议|问题|困难|节点|情况|累计|进展|事项"
    # 年度累计完成：3.2亿元, 本月完成：600万元
    r"|(?:累计|本月|当月|本年|年度|本季度?|季度|以来)完成"
    # 下步计划：1月中旬组织竣工验收 — the plan and what it plans are one clause
    r"|(?:下步|下一步|下月|下阶段|工作)?(?:计划|打算|安排)"
    # 本月：2600 under a heading that gives the unit: a period alone is a form's label too
    r"|(?<![\u4e00-\u9fff])(?:本月|当月|这个月|本季度|本年|今年))\s*$")
_MARKER = re.compile(
    r"\s*(?:\d{1,2}[、.．)）](?!\d)|[①-⑳]|[(（](?:\d{1,2}|[一二三四五六七八九十]{1,3})[)）]"
    r"|[一二三四五六七八九十]{1,3}、|[-•·●▪]\s*)?\s*"
)
# (Not after a verb that waits for its figure: 完成投资 嗯 八千五百万, a blanked filler.)
_SPACE_SPLIT = guarded(
    r"(?:(?<=[^\x00-\x7f])|(?<=%)|(?<=\dW))(?<![月年度])(?<!投资)(?<!完成)(?<!达到)[ \t]+"
    # …1200万 A栋厂房完成30%: a part named by a letter (A栋, B区) starts a clause too.
    r"(?=[\u4e00-\u9fff]|[A-Za-z][\u4e00-\u9fff])")
_BLANK = re.compile(r"[^\n]")


# Voice input's fillers: interjections anywhere; 那个, 就是, 然后 … where a clause starts (or
# before a pause); they carry nothing and would otherwise stand between words that belong
# together. 这个月 and 那个项目 are not fillers.
_FILLER = guarded(
    r"[嗯呃唔]+|(?<![\u4e00-\u9fff])[额哦啊](?![\u4e00-\u9fff])"
    r"|(?<=[\u4e00-\u9fff])[啊呀哈吧](?=[，,。.！!？?\s]|$)"
    r"|(?:^|(?<=[，,。.！!？?;；\s]))"
    r"(?:那个|这个|就是说|就是|然后呢|然后|那么|反正|哎|唉)+"
    r"(?![月季星礼周项工])"
    r"|(?:那个|这个)(?=[，,、\s])",
    re.M,
)


# Spoken "next point" words: a clause break where a transcript has no punctuation.
_NEXT_POINT = re.compile(r"还有就是|再就是|另外|此外|再一个|还有一个|然后")


# Every filler and next-point word has one of these characters.
_FILLER_CHAR = re.compile("[嗯呃唔额哦啊呀哈吧那这就然反哎唉另此再还]")


def blank_fillers(text: str) -> str:
    """Voice-input fillers replaced by spaces and spoken next-point words by a comma;
    offsets are unchanged."""
    if not _FILLER_CHAR.search(text):
        return text
    text = _FILLER.sub(lambda m: " " * len(m.group()), text)
    return _NEXT_POINT.sub(lambda m: "，" + " " * (len(m.group()) - 1), text)


# Every question and notice pattern contains one of these: most reports skip the sentence loop.
_NON_REPORT_HINT = re.compile(
    r"[？?吗请各麻抓尽记核了确问落领书长任@报会样况纪]|通知|回复|大家|怎么|如何|什么时候|由我")


# A request for help asked as a question (请问区里能否协调一下…用地问题吗) is a request,
# not a question: spec, issues are "problems or requests for help".
_HELP_ASKED = re.compile(
    r"(?:能否|能不能|可否|可不可以|能|可以)[^。！？!?\n]{0,6}?(?:帮忙|帮助|帮我们|协调|解决|督促|对接)")
# A question opening a clause after a report in the same sentence.
_QUESTION_LEAD = re.compile(r"(?<=[，,；;])\s*(?:请问|想问一下|想问|问一下|咨询一下)")


def _non_report(sentence: str, question: bool = True) -> bool:
    return bool((question and _QUESTION.search(sentence)) or _NOTICE.search(sentence)
                or (("纪要" in sentence or "由我" in sentence or "关照" in sentence)
                    and _MINUTES.search(sentence))
                or (_ASK_HINT.search(sentence) and _ASK.search(sentence)))


def drop_non_reports(text: str) -> str:
    """Blank out sentences that are questions or notices; offsets are unchanged."""
    if _TO_ALL.match(text):
        return _BLANK.sub(" ", text)
    if "好" in text or "早" in text:  # every greeting has one (a plain search, not the regex)
        text = _GREETING.sub(lambda m: " " * len(m.group()), text)
    if not _NON_REPORT_HINT.search(text):
        return text
    parts: list[str] = []
    for m in _SENTENCE.finditer(text):
        sentence = m.group()
        if not sentence:
            continue
        if _QUESTION.search(sentence) and not _HELP_ASKED.search(sentence):
            # 主体完成70%，请问要附照片吗: a report, then a question of its own.
            lead = _QUESTION_LEAD.search(sentence)
            if lead is not None and not _non_report(sentence[:lead.start()]):
                parts.append(sentence[:lead.start()] + _BLANK.sub(" ", sentence[lead.start():]))
            else:
                parts.append(_BLANK.sub(" ", sentence))
        elif _non_report(sentence, question=False):
            parts.append(_BLANK.sub(" ", sentence))
        elif "报" in sentence and (about := _ABOUT_REPORT.search(sentence)) is not None:
            parts.append(_blank_clause(sentence, about.start(), about.end()))
        else:
            parts.append(sentence)
    out = "".join(parts)
    return out if len(out) == len(text) else text


# A written correction (更正：…进度应为65%，不是56%; “…1.1亿元”应为“…1.3亿元”): the value it
# retracts (不是56%, the figure before 应为) is blanked and 应为 reads as 为.
_CORRECTION = re.compile(r"更正|纠正|有误|写错|报错|打错|填错")
_NOT_THIS = re.compile(
    r"(?<=[，,；;])\s*而?(?:不是|并非|而非)(?=[^，,。；;！!？?\n]{0,12}\d)[^，,。；;！!？?\n]{1,14}")
_OLD_VALUE = re.compile(
    r"[“\"「『][^”\"」』\n]{1,40}[”\"」』](?=\s*应该?[为是])"
    r"|\d+(?:\.\d+)?\s*(?:%|％|个?亿元?|万元?)?(?=\s*应该?[为是])")
_SHOULD = re.compile(r"应该?(?=[为是])")


def blank_retracted(text: str) -> str:
    """A written correction's retracted value blanked; offsets are unchanged."""
    if ("应" not in text and "不是" not in text and "非" not in text) or not _CORRECTION.search(
            text):
        return text
    for pattern in (_NOT_THIS, _OLD_VALUE, _SHOULD):
        text = pattern.sub(lambda m: " " * len(m.group()), text)
    return text


def _blank_clause(sentence: str, start: int, end: int) -> str:
    """`sentence` with the clause holding [start, end) blanked (the rest may report)."""
    lo = max((m.end() for m in _CLAUSE_EDGE.finditer(sentence, 0, start)), default=0)
    hi = _CLAUSE_EDGE.search(sentence, end)
    hi_pos = hi.start() if hi is not None else len(sentence)
    return sentence[:lo] + _BLANK.sub(" ", sentence[lo:hi_pos]) + sentence[hi_pos:]


def clause_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each non-empty clause, in order."""
    spans: list[tuple[int, int]] = []
    pos = 0
    blanks = " " in text or "\t" in text  # (most messages have none to split at)
    for m in (*_CLAUSE_SPLIT.finditer(text), None):
        end = m.start() if m is not None else len(text)
        if end > pos:
            start = _MARKER.match(text, pos, end).end()  # type: ignore[union-attr]
            if start < end:
                if blanks and (" " in text[start:end] or "\t" in text[start:end]):
                    sub = start
                    for sp in _SPACE_SPLIT.finditer(text, start, end):
                        spans.append((sub, sp.start()))
                        sub = sp.end()
                    spans.append((sub, end))
                else:
                    spans.append((start, end))
        if m is not None:
            pos = m.end()
    spans = [(a, b) for a, b in spans if text[a:b].strip()]
    if "：" not in text and ":" not in text:
        return spans  # no label to join with its value
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and text[merged[-1][1]:a].strip() in ("：", ":") \
                and _LABEL_END.search(text, merged[-1][0], merged[-1][1]):
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


# The bot's own alert card (scheduler/messages.py alert_notice), quoted or pasted back with a
# reply: its fields restate the plan and the delay, they report nothing. The 项目： line stays
# (it names the project the reply is about). Recognised by the card's 逾期 line.
_CARD_SIGNATURE = re.compile(r"逾期：自[^，,。\n]{4,16}?起已逾期")
_CARD_FIELD = re.compile(
    r"(?m)^[ \t>]*(?:(?:事项|逾期|责任人)：|尚无人点|请尽快|[🟡🟠🔴]"
    r"|[黄橙红]色预警).*$")


def blank_bot_cards(text: str) -> str:
    """Blank the fields of a quoted alert card; offsets are unchanged."""
    if "逾期：自" not in text or not _CARD_SIGNATURE.search(text):
        return text
    return _CARD_FIELD.sub(lambda m: _BLANK.sub(" ", m.group()), text)
