"""Milestone events: which milestone, whether it happened, is planned or has not happened, and
when. Status comes from the words around the milestone word within its clause (negation first,
then commitment, then accomplishment), else from the date relative to the sending date."""

from __future__ import annotations

import bisect
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from nlp.dates import DateSpan
from nlp.guard import guarded
from nlp.types import EventStatus

# Longest words first inside each milestone; 竣工验收 is `accepted` only, never `completed`.
_MILESTONE = guarded(
    # (消防验收, 环保验收, 规划验收 … are special inspections, not the project's acceptance:
    # see _OTHER_INSPECTION.)
    r"(?P<accepted>竣工验收|通过验收|组织验收|验收)"
    r"|(?P<topped_out>主体封顶|封顶|封[的了过]顶|顶(?:已经?|也)?封[的了过])"
    r"|(?P<completed>主体完工|竣工(?!预验)|(?<!整改)完工|建成(?!区)"
    # 项目已全部完成 (the whole project, nothing after it)
    r"|(?<=项目)(?:已经?)?(?:全部|全面)完成(?=[，,。；;！!\s]|$))"
    # Split verb forms of speech: 开的工, 开了工, 开不了工 (negated: see _SPLIT_NEG).
    r"|(?P<started>破土动工|(?<!自)开工(?!以来|累计|到现在|到目前|至今|率|前|条件|手续)|动工|进场施工|开建"
    r"|施工(?:单位|队伍?|方)[^，,。；;]{0,8}?进场(?!施工)"
    r"|[开动](?:的|了|过|不了|不成)工)"
    r"|(?P<permit>施工许可证?|四证齐全|施工证)"
    r"|(?P<land>摘牌|拿地|取得土地|土地出让|供地|土地证|(?<![土场])[地牌](?:已经?|也)?摘[的了过]"
    # split in speech: 地还没拿到, 二期的地前天拿到了, 地是上个月拿的 (the land opens the clause
    # or follows 的: 工地, 基地 and 用地 are other things)
    r"|(?:(?<=的)|^)地[^，,。；;]{0,6}?拿(?:到|下|[了的](?![钱款]))"
    r")"
    r"|(?P<signed>签约(?![率户人数])|(?:投资|合作)协议(?=[^，,。；;]{0,12}?签(?:[的了过好]|(?=[，,。；;！!？?\s]|$)))|签[订署](?:了)?(?:投资|合作|项目)?(?:协议|合同)?|签[的了过]约)"
    # (开学, 开馆: a school or a venue opening, said as the end of its statement; not the time
    # of something else: 开学前, 开学用得上)
    r"|(?P<operating>(?:试生产|试产|量产|投产|投入使用|交付使用|投用|试运营|投运|运营(?!商)|开业|通车)"
    r"(?!以来)|投[的了过]产"
    r"|开[学馆](?=[了啦]|[，,。；;！!？?\s]|$)"
    r"|通[的了过]车|投不了产|通不了车|开[的了过]业)"
)
# Characters every milestone word contains one of: a cheap test before the full pattern.
_MILESTONE_HINT = re.compile(r"[验封工建许证摘牌地签约产用营运业车学馆全]")  # 全: 项目已全部完成
_SPLIT_NEG = re.compile(r"不了|不成")
_THIS_OR_NEXT_YEAR = re.compile(r"今年|明年|年内")
_APPLY_FOR = re.compile(r"(?:准备|申请|准备办|筹备|(?<![汇通])报|申报|报请)(?:办理|组织)?\s*$")
_MOVING_IN = re.compile(r"[还仍正]在|陆续")
_SPLIT_DONE = re.compile(r"[开动封投签通摘][的了过]")  # 封的顶, 开了工: said as past
# An inspection of one aspect (消防验收, 环保验收, 验收资料 is caught by _AS_NOUN), not the
# project's completion acceptance (竣工验收).
_OTHER_INSPECTION = re.compile(
    r"(?:消防|环保|规划|人防|节能|水保|档案|质量|专项|分部|分项|单体|主体|基础|防雷|电梯|安全|设备"
    r"|桩基|隐蔽|初步|中间|地基|钢结构|结构|幕墙|管网|绿化|室外|职业卫生|卫生|环评|安评|能评|水土保持"
    r"|特种设备|交通|交警|公安|燃气|供电|工程质量|竣工前|预|进场|材料|到货|开箱)(?:工程|专项|系统)?(?:的)?$"
)
_ASPECT_BEFORE = re.compile(r"(?:消防|环保|规划|人防|节能|水保|档案|防雷|电梯|环境保护)$")
# 未签征收协议 is land acquisition, not the project's investment agreement.
_SIGN_CONTEXT = re.compile(
    r"(?:投资|合作|项目|招商|框架|战略|入园|落户|进园|建设)[^，,。；;]{0,4}(?:协议|合同)|协议书"
)
_SIGN_NOT = re.compile(
    r"征收|补偿|拆迁|征拆|安置|租赁|征地|采购|[（(]新?签约|\d+户|[一二三四五六七八九十两几]+户|招商引资|签约项目"
    r"|[\d一二三四五六七八九十两几]+个项目|入驻|[\d一二三四五六七八九十两几]+家")

_ON_TIME = re.compile(r"按计划|按期|按时|如期|按节点")
_NEG = re.compile(
    r"还没有?|还未|尚未|暂未|暂时没有|未能|没能|没有|仍未|迟迟未|迟迟没有?|未|没|无法"
    r"|待定|未定|不能|不会|不了|难以|来不及|无望|不具备|不可能|达不到|赶不上|做不到"
    r"|暂不|暂缓|缓建|停止|取消|能否|是否|能不能|会不会|可否|不[准让许给]|不允许"
    r"|[办批拿领审]不[下到出了]"  # 施工许可证办不下来
)
# Under way rather than not done: 正在办理施工许可证. Not done, unless the message gives the
# milestone a planned date (预计5月初取得): then the plan is what is reported.
_IN_PROGRESS = guarded(
    r"正在办理|正在申请|正在报批|办理中|申请中|审批中|在办理|还在走|正在走|走程序|走流程"
    r"|程序中|流程中|还在办|正在|在等|还在等|筹备|还差|离|卡在|卡着|卡住|压在|搁在|停在"
    # 投产要等设备调试完, 开工只能等路修好: waiting on something first
    r"|要等|得等|需要?等|等到|只能等|只好等"
    # 施工许可在办 / 还在审: being applied for; 还剩竣工验收: the step still left
    r"|[还仍正]?在(?:办|审|批|报|走)(?![了过完好])|还剩|只剩|就剩|剩下"
    r"|待(?:审批|批复|审核|办理|核发|取得|发证)"
)
_PLAN = guarded(
    r"计划|预计|力争|争取|将于|将|确保|拟|有望|准备|推迟|延期|延迟|延后|顺延|调整[到为至]|打算|[推拖]到"
    r"|目标|要在|预定|可望|即将|下一步|下步|近期|快要|快(?![速递捷线乐])|马上|就要|还要|还需要?|还得|才能|才可以|早日"
    r"|尽快|抓紧|加快|务必|届时"
    # 竣工可能要晚一点, 投产会晚些: a slip, the new date still to come
    r"|(?:要|会|得)晚(?:一点|一些|些|点)"
    # 施工许可这两天就能拿到: obtainable soon, not obtained
    r"|就能|便能|即可|能够?(?:拿到|取得|办好|办下来|下来|批下来|实现|完成)"
    # 整改完再约验收: after something else, then
    r"|完再|后再|再约|再组织|再申请"
    # 国庆后组织验收, 春节后复工: after a holiday, on no day said
    r"|(?:国庆|春节|五一|节|年|雨季|汛期)(?:以|之)?后(?![^，,。；;]{0,8}已)"
    # 摘牌后一个月内开工, 取证后三天内进场: after another step, within a time
    r"|(?:以|之)?后[^，,。；;已]{0,3}?(?:[\d一二两三四五六七八九十半几]+|一两)个?(?:月|天|周|日|星期)(?:以|之)?内"
)
# 暑假前完工: a deadline right before the milestone word.
# (目前, 当前, 此前, 日前 and 提前 are not deadlines.)
# 6月底前完成竣工验收: the deadline may stand a verb away from the milestone word; 两个月前
# and 三天前 are ago, not deadlines; 5月前已竣工 is done (已 is not in the tail).
_BEFORE_TAIL = (r"\s*(?:要|必须|务必|确保|能|可|将|完成|实现|全面|基本|全部|正式|达到|具备"
                r"|通过|取得|拿到|办理|办结|办好|举行|组织|进行|开展|启动)*\s*$")
_BEFORE = guarded(r"(?:(?<=[\d一二三四五六七八九十]日)|(?<![目当此日提]))(?:之|以)?前"
                     + _BEFORE_TAIL)  # 1月10日前 is a deadline; 日前 alone is "recently"
# 前 right after a date: the date is a deadline (本月底前, 1月10日之前).
_DEADLINE = re.compile(r"\s*(?:之|以)?前")
_AGO = re.compile(
    r"(?:\d+|[一二两三四五六七八九十几半]+)\s*(?:个月|天|周|个星期|年)(?:之|以)?前" + _BEFORE_TAIL)
_DONE = re.compile(r"已经|已于|已|今天|昨天|前天|今日|昨日|刚刚|顺利|实现|了")
# The period the report covers (本周, 本季度), and 完成 said of it: what was done in it.
_THIS_PERIOD = re.compile(r"(?:本|这个?|当)(?:周|星期|礼拜|季度?)")
_DONE_IN_PERIOD = re.compile(r"\s*(?:已经?|共|主要|基本|顺利|全面|累计|陆续)?\s*完成(?!率)")
# …unless the rest of the clause says it was not reached, is hard, or is only the plan
# (本周完成主体封顶的目标没实现, 本季度完成竣工验收有难度, 本周完成封顶的计划推迟了).
_PERIOD_NOT_MET = re.compile(
    r"没|未|不|无|难|困难|可能|计划|目标|任务|推迟|延期|延后|延误|滞后|争取|力争|确保|预计|估计"
    r"|恐怕|希望|有望|打算|准备|要|能否|是否|来不及|赶不上")
# 原定5月开工: the old plan, superseded by what follows (推迟到7月); not reported itself.
_SUPERSEDED = re.compile(r"原定|原计划|原本|本应|本来")
# The old plan said to be missed, with no new date (…，没能按期 / …，肯定赶不上了).
_MISSED = re.compile(r"(?:没能|未能|没有?按期|未按期|赶不上|来不及|没(?:有)?实现|未实现|落空|泡汤"
                     r"|不行了|完不成|实现不了|做不到|(?:推迟|延误|延期|拖后)了)"
                     # (完不成的话要追责: a hypothesis; 没能按期的是二期: another part)
                     r"(?![^，,。；;]{0,2}(?:的话|的是))")
_THEN = re.compile(r"然后|随后|之后|接着|后|再")
_CONNECTOR = re.compile(r"^(?:[\s、和并及与同时后再]|然后|随后|之后|接着|紧接着|投入|同步|正式)*$")
# 推迟到4月初 after a 没有按计划完成摘牌: a new plan for the milestone just reported.
# 影响开工, 耽误了投产: the milestone is what a problem holds up, not something reported.
_HELD_UP = re.compile(
    r"(?:影响|耽误|耽搁|制约|阻碍|延误|拖累|拖慢|等待|等着)(?:到|了)?[^，,。；;!！?？]{0,10}$")
# 正在办理施工许可证，预计8月中旬取得: a plan for the permit (or land) just mentioned.
_OBTAIN_PLAN = re.compile(
    r"(?:计划|预计|力争|争取|将|有望|确保)[^，,。；;]{0,12}?(?:取得|拿到|办结|办完|办好|下证|领证)"
)
# What may stand beside a date said after the fact: 上礼拜五开始的, 就是前天.
# (主体封顶了，前天的事)
_AFTERTHOUGHT = re.compile(
    r"\s*(?:就是|是)?\s*(?:开始的|弄的|搞的|完成的|的事情?|的事儿|那天|的)?\s*[)）]?\s*")
# A clause that opens with an estimate (估计下礼拜三, 预计下月中旬): a date to come.
_EXPECT = re.compile(r"\s*(?:估计|预计|大概|争取|力争|有望|应该|计划|准备|打算|确保)")
# 没能按期完工估计要到明年二季度: an estimate said after a missed milestone, in one breath.
_EXPECT_AFTER = re.compile(r"估计|预计|争取|力争|可能要?|要到|有望")
# The words of a plan made for a date earlier in the sentence (计划明年3月设备进场，6月投产).
_SENTENCE_BREAK = re.compile(r"[。！!？?；;\n]")
_FINISH_PLAN = re.compile(
    r"(?:计划|预计|力争|争取|确保|将|拟|要)[^，,。；;]{0,12}?(?:完成|办结|办完|实现)")
_RESCHEDULE = guarded(r"推迟[到至]|延期[到至]|延后[到至]|顺延[到至]|改[到至]|调整[到至为]"
                         r"|[推拖延]到|延[至期]|调整为")  # said on the phone: 要推到八月份


# Slipped with no new date (试生产推迟了, 施工单位推迟进场了): not done, not a plan.
_SLIPPED_AFTER = re.compile(r"\s*(?:又|也|还|已经?)?(?:推迟|延期|延后|顺延|往后推)了")
_SLIPPED_BEFORE = re.compile(r"(?:推迟|延期|延后)\s*$")
_DATE_TAIL = re.compile(r"\s*(?:之|以)?(?:前|左右|前后)?\s*(?:能|可以|才能|就能|会|应该)?\s*"
                        r"(?:基本|全部|全面)?\s*"
                        r"(?:完成|实现|到位|搞定|拿到|拿证|取得|下证|领证|办结|办完|办好|批下来|验)?"
                        r"\s*(?:吧|了)?\s*[。！!]*")
# A document's title: 关于康宁物流中心竣工验收的督办回复, 关于…开工有关事项的请示.
_ABOUT = re.compile(r"^[\s【\[]*关于[^，,。；;：:已了]{0,30}$")
_TITLE_TAIL = re.compile(r"[^，,。；;：:已了]{0,8}?的[^，,。；;：:]{0,8}?"
                         r"(?:回复|报告|请示|通知|函|说明|汇报|情况|事项|答复)")
_NODE_PASSED = re.compile(
    r"\s*(?:时间)?\s*(?:已经?|都|早就?)?\s*(?:逾期|超期|过了|已过|延误|滞后|到期)")
_NODE_AHEAD = re.compile(r"[^，,。；;]{0,6}?(?:还有|距今|距离|临近|即将|快到|提醒)")
_WHETHER = re.compile(r"(?:能否|是否|能不能|会不会)\s*$")
_SLIPPED = re.compile(r"推迟|推后|往后推|延后|延期|顺延|后延|晚")
# A clause that is only a date and hedges (6月中旬吧, 估计下月底左右): the date of the plan
# said just before it in the sentence (博羿竣工可能要晚一点，涂料供货跟不上，6月中旬吧).
_BARE_DATE = re.compile(r"[\s，,]*(?:估计|预计|大概|应该|可能|差不多|争取|力争|最快|最迟|得|要)*"
                        r"(?:(?:新的?|现在的?)?(?:目标|时间)?(?:是|为|定在|改为|调整为|改到))?"
                        r"\s*(?:到)?\s*(?:上午|下午|晚上|早上|中午|之前|以前|前|左右|前后|吧|啦|了)*"
                        r"[\s。！!]*")
# May miss its date (可能赶不上5月底完工): the estimate said after it, if any, is the plan.
_MAY_MISS = re.compile(r"(?:可能|恐怕|也许|怕是|估计|看来)(?:要|会)?"
                       r"(?:赶不上|来不及|完不成|实现不了)[^，,。；;]{0,10}$")
# A target said to be out of reach (的目标无法实现, 有困难, 可能要往后推): no longer a plan, and
# no event of its own (the new date, if any, is said with 推迟到 / 延期至).
_AT_RISK = re.compile(
    r"[^，,。；;]{0,4}?(?:的)?(?:任务|目标|节点|计划)?(?:的)?[^，,。；;]{0,4}?"
    r"(?:完不成|无法实现|实现不了|难以实现|不能实现|无法完成|存在[^，,。；;]{0,4}风险|有困难|有难度"
    r"|没法完成|保不住|守不住|够呛|没戏|悬了)")


@dataclass(frozen=True, slots=True)
class EventMention:
    start: int
    end: int
    milestone: str
    status: EventStatus
    date: dt.date | None
    rolled: bool = False  # a date without a year put in the next year (a plan is never past)
    moved: bool = False  # a new date after 推迟到 / 申请延期至: it replaces an earlier plan


# 已按计划开始试生产: done on plan (按计划 alone, 按计划投产, is still the plan).
_DONE_MARK = re.compile(r"已|了")
# 没问题 and 未来 hold a negation word but deny nothing.
_NOT_NEGATION = re.compile(r"没有?问题|未来")


def _status(window: str) -> EventStatus | None:
    """Status words in a window of text; negation wins over commitment over accomplishment."""
    if window[:1] in " 时日没不未仍依还照" and (kept := _UNCHANGED_AFTER.match(window)):
        window = window[kept.end():]  # (投产没变，…: the plan stands, said right after it)
    if _NEG.search(_ON_TIME.sub("", window)) and not _NOT_NEGATION.search(window):
        return "not_done"
    if _IN_PROGRESS.search(window):
        return "not_done"
    if _PLAN.search(_ON_TIME.sub("", window) if _DONE_MARK.search(window) else window) or (
            _BEFORE.search(window) and not _AGO.search(window)):
        return "planned"
    if _DONE.search(window):
        return "done"
    return None


# 竣工资料, 开业筹备, 验收准备会, 投产时间: the milestone word names a document, a preparation
# or a time, not an event (开工时间为5月20日, with its date, still is one).
# (土地出让公告已发布: the announcement is out, the land is not taken yet.)
# (具备通车条件, 验收意见, 投产企业5家; 建成后, 投产以后: a time, not an event)
_AS_NOUN = re.compile(r"资料|材料|报告|备案|筹备|准备|方案|公告|公示|条件|意见|企业|后|以后|之后"
                      r"|情况|决算|结算|审计"  # 投产情况, 竣工决算: a matter or an account
                      r"|照片|视频"
                      r"|的项目|的企业")  # (已建成投产的项目: which projects, not an event)
_AS_TIME = re.compile(r"时间|日期")
# 投产时间要往后推，…，预计2月下旬 / 通车时间定了，9月28号: the milestone's time moved or set,
# the date said later in the sentence (extract_events looks for it; without one, no event).
_TIME_SET_LATER = re.compile(
    r"[^，,。；;]{0,6}?(?:推迟|推后|往后推|延后|延期|顺延|后延|调整|定了|定下来|确定了|定在|改了)")
_UNCHANGED = re.compile(r"\s*(?:还是|仍然|依然)?(?:不变|没变|未变(?!更)|没有变|没有?变化|照旧)")
# The milestone's date said unchanged, right after the milestone word (开工时间不变, 投产没变).
_UNCHANGED_AFTER = re.compile(r"\s*(?:时间|日期)?" + _UNCHANGED.pattern)
# 已建成投产的项目, 开工的企业: which projects are meant, a run of milestone words before 的项目
_WHICH = re.compile(
    r"(?:[、和及与]?(?:建成|竣工|完工|投产|开工|封顶|通车|试生产|运营|投用))*的(?:项目|企业)")
_HAS_DIGIT_DATE = re.compile(
    r"\d{1,2}\s*[月日号/.]|[一二三四五六七八九十]+月|月底|月初|中旬|年底|季度")


# What stands between a milestone word and the thing it is said of: status, time and manner
# words (变电站至今尚未建成, 厂房已于5月全面完工).
_SUBJECT_TAIL = re.compile(
    r"(?:已经?|已于[^，,。；;]{0,10}?|于[^，,。；;]{0,10}?|尚未|还没有?|还未|仍未|未能|没能|未|没有?"
    r"|迟迟|至今|目前|现在|全面|基本|全部|完全|顺利|正式|也|都|均|将|计划|预计|力争|争取"
    r"|的|了|\s|本月底?|下月底?|月底|年底|年内|之?前"
    # a date (东广场12月底完工)
    r"|\d{1,2}月(?:\d{1,2}[日号])?(?:底|初|末|中旬|上旬|下旬)?(?:之?前)?)*$")
# Supporting works (变电站, 配套道路, 供水管网) are not the project: their 建成, 投运 or 开工 is
# not the project's milestone (周边道路尚未建成 is a utilities problem).
_WORKS_SUBJECT = re.compile(
    r"(?:变电站|道路|路网|管网|管线|线路|专线|电网|供水|供电|供气|燃气|雨污|污水管|给排水|杆线"
    r"|市政配套|配套设施|辅道|便道|进场路|连接线|匝道|附属工程|附属设施)(?:县里|区里|市里|镇里|街道)?$")
# A building of the project (2#厂房, 组件车间, 3号楼) finished is that part's completion, not
# the project's (主体 and 主体工程 are the project's: 主体完工).
# A trade of the work (幕墙, 装修, 钢结构) finished is that part's completion too.
_PART_SUBJECT = guarded(
    r"(?:厂房|车间|[\dA-Za-z一二三四五六七八九十][#＃号]?楼|楼栋|宿舍楼?|食堂|办公楼|仓库|站房"
    r"|幕墙|装修|装饰|外墙|屋面|精装|室内|景观|绿化|钢结构|二次结构|桩基|基础|土方|场平|安装"
    # a facility of it (the school's 运动场, 教学楼)
    r"|运动场|操场|停车场|(?:教学|综合|实验|研发|科研|行政|门诊|住院)楼|图书馆|体育馆|报告厅"
    r"|[东西南北前后]广场|跑道)"
    r"(?:工程)?$")


def _said_of_works(clause: str, at: int, kind: str) -> bool:
    """Whether the milestone word at clause[at:] is said of supporting works or, for
    completion, of one building, rather than of the project."""
    if kind not in ("completed", "operating", "started"):
        return False
    head = clause[max(0, at - 24):at]
    if not _WORKS_HINT.search(head):
        return False
    subject = head[:_SUBJECT_TAIL.search(head).start()]  # type: ignore[union-attr]
    return bool(_WORKS_SUBJECT.search(subject)
                or (kind == "completed" and _PART_SUBJECT.search(subject)))


# A count of buildings or lines: 已封顶8栋 is some of them, 剩下2栋 the last of them.
_UNITS = (r"[\d一二两三四五六七八九十]+\s*(?:栋|幢|座|个单体|台|条线"
          r"|个(?!月|工作日|小时|星期|礼拜|季度|多月|半月))")  # 已竣工14个: some of many
_LAST_UNITS = re.compile(r"(?:还剩|只剩|就剩|剩下)\s*" + _UNITS)
_SOME_UNITS = re.compile(r"\s*了?\s*" + _UNITS)
_WORKS_HINT = re.compile(r"[站路道网线电水气管杆配房间楼舍堂库墙修饰面室观化构础基方平装场馆厅]")


def _alone_in_clause(text: str, d: DateSpan) -> bool:
    """Whether date `d` stands alone in its clause but for hedges (预计2月下旬, 9月28号吧)."""
    lo = max(text.rfind(c, 0, d.start) for c in "，,；;。！!？?\n") + 1
    hi = _CLAUSE_END.search(text, d.end)
    end = hi.start() if hi else len(text)
    return _BARE_DATE.fullmatch(text[lo:d.start] + text[d.end:end]) is not None


_CLAUSE_END = re.compile(r"[，,；;。！!？?\n]")


def milestone_spans_by_clause(text: str, clauses: Sequence[tuple[int, int]]
                              ) -> list[list[tuple[int, int, str]]]:
    """milestone_spans of each clause (a message without any milestone word's character is
    not searched clause by clause)."""
    if not _MILESTONE_HINT.search(text):
        return [[] for _ in clauses]
    return [milestone_spans(text, cs, ce) for cs, ce in clauses]


def milestone_spans(text: str, start: int, end: int) -> list[tuple[int, int, str]]:
    """(start, end, milestone) of milestone words in text[start:end]."""
    out: list[tuple[int, int, str]] = []
    clause = text[start:end]
    if not _MILESTONE_HINT.search(clause):
        return out
    sign_ok: bool | None = None  # computed once per clause: long clauses stay linear
    for m in _MILESTONE.finditer(clause):
        kind = m.lastgroup or ""
        after = clause[m.end():m.end() + 2]
        if _AS_NOUN.match(after) or (after[:1] in "的建竣完投开封通试运、和及与"
                                     and _WHICH.match(clause, m.end())):
            continue
        if _AS_TIME.match(after) and not _HAS_DIGIT_DATE.search(clause, m.end()) \
                and not _UNCHANGED_AFTER.match(clause, m.end()) \
                and not _TIME_SET_LATER.match(clause, m.end() + 2):
            continue  # (开工时间不变: the plan stands)
        if _said_of_works(clause, m.start(), kind):
            continue
        if "关于" in clause and _ABOUT.search(clause, 0, m.start()) \
                and _TITLE_TAIL.match(clause, m.end()):
            continue  # 关于…竣工验收的督办回复: a document's subject, not an event
        if _SOME_UNITS.match(clause, m.end()):
            continue  # 10栋已封顶8栋: some of the buildings, not the project
        if kind == "land" and m.group().startswith("地") and len(m.group()) > 2:
            out.append((start + m.end() - 2, start + m.end(), kind))  # 地…拿到: status between
            continue
        if kind == "started" and m.group().startswith("施工") and m.group().endswith("进场"):
            out.append((start + m.end() - 2, start + m.end(), kind))  # 施工单位9月18日进场
            continue
        if kind == "accepted" and _APPLY_FOR.search(clause, max(0, m.start() - 6), m.start()):
            continue  # 准备申请竣工验收, 下一步申请验收: an application to come, no date for it
        if kind == "accepted" and m.group() != "竣工验收" \
                and _OTHER_INSPECTION.search(clause, max(0, m.start() - 8), m.start()):
            continue
        if kind == "accepted" and _ASPECT_BEFORE.search(clause, max(0, m.start() - 4), m.start()):
            continue  # 环保竣工验收, 消防竣工验收: one aspect's acceptance, not the project's
        if kind == "signed":
            # 拆迁户还有12户未签约 is land acquisition, not the project's investment agreement.
            if _SIGN_NOT.search(clause):
                continue
            if not m.group().startswith("签约"):
                if sign_ok is None:
                    sign_ok = bool(_SIGN_CONTEXT.search(clause))
                if not sign_ok:
                    continue
        out.append((start + m.start(), start + m.end(), kind))
    return out


def _join_shorthand(text: str, clauses: Sequence[tuple[int, int]],
                    named: Sequence[list[tuple[int, int, str]]], dates: Sequence[DateSpan],
                    ) -> tuple[list[tuple[int, int]], list[list[tuple[int, int, str]]]]:
    """Shorthand puts a space where a sentence would not break: 竣工验收 力争明年3月, 12月底试产
    没赶上, 后天 竣工验收. Across spaces on one line, a milestone word alone in its clause (a
    date or a name beside it allowed, no status word) takes the clause after it when that one
    names no milestone; then a
    clause naming none takes a milestone word alone after it."""
    def alone(k: int, cl: list[tuple[int, int]], nm: list[list[tuple[int, int, str]]]) -> bool:
        cs, ce = cl[k]
        if len(nm[k]) != 1:
            return False
        rest = list(text[cs:ce])
        for lo, hi in [(nm[k][0][0], nm[k][0][1])] + [
                (d.start, d.end) for d in dates if cs <= d.start and d.end <= ce]:
            rest[lo - cs:hi - cs] = " " * (hi - lo)
        # (a name or a part beside it is fine: 驱动电机 12月底试产; a status word is not)
        return _status("".join(rest)) is None

    def spaced(a: tuple[int, int], b: tuple[int, int]) -> bool:
        gap = text[a[1]:b[0]]
        return bool(gap) and not gap.strip(" \t")

    cl, nm = list(clauses), [list(x) for x in named]
    for first in (True, False):
        k = 0
        while k + 1 < len(cl):
            if spaced(cl[k], cl[k + 1]) and (
                    (first and alone(k, cl, nm) and not nm[k + 1]
                     and len(text[cl[k + 1][0]:cl[k + 1][1]].strip()) <= 8)  # a status, short
                    or (not first and not nm[k] and alone(k + 1, cl, nm))):
                cl[k:k + 2] = [(cl[k][0], cl[k + 1][1])]
                nm[k:k + 2] = [nm[k] + nm[k + 1]]
                continue
            k += 1
    return cl, nm


def extract_events(text: str, clauses: Sequence[tuple[int, int]], dates: Sequence[DateSpan],
                   sent: dt.date,
                   named: Sequence[list[tuple[int, int, str]]] | None = None,
                   ) -> list[EventMention]:
    """Every milestone event in the message, in text order. `named`: milestone_spans of each
    clause, when the caller has them already."""
    out: list[EventMention] = []
    starts = [d.start for d in dates]
    if named is not None and any(" " in text[a[1]:b[0]] for a, b in pairwise(clauses)):
        clauses, named = _join_shorthand(text, clauses, named, dates)

    def sentence_end(pos: int) -> int:
        stop = _SENTENCE_BREAK.search(text, pos)
        return stop.start() if stop else len(text)

    def within(lo: int, hi: int) -> list[DateSpan]:
        """Dates lying entirely in [lo, hi), found by bisection (dates are in text order)."""
        i = bisect.bisect_left(starts, lo)
        found = []
        while i < len(dates) and dates[i].start < hi:
            if dates[i].end <= hi:
                found.append(dates[i])
            i += 1
        return found

    plan_sections = _plan_sections(text)
    last: EventMention | None = None
    under_way: set[int] = set()  # not_done only because it is being applied for
    missed: set[int] = set()  # an old plan (原定…) said to be missed

    def add_missed(ms: int, me: int, kind: str) -> EventMention:
        """The old plan for milestone `kind` at text[ms:me], said to be missed: not done,
        unless the message reports it done after all (filtered at the end)."""
        out.append(EventMention(ms, me, kind, "not_done", None))
        missed.add(len(out) - 1)
        return out[-1]
    bare: set[int] = set()  # a milestone word alone in its clause, no status, no date
    plan_dated = False  # a plan with a date earlier in this sentence
    plan_words = _PLAN.search(text) is not None
    for ci, (cs, ce) in enumerate(clauses):
        if plan_dated and _SENTENCE_BREAK.search(text, clauses[ci - 1][1], cs):
            plan_dated = False
        carried = plan_dated
        if plan_words and not plan_dated and (within(cs, ce) or _THIS_OR_NEXT_YEAR.search(
                text, cs, ce)) and _PLAN.search(text, cs, ce):
            plan_dated = True  # (今年计划投资2.5亿元，8月份投产: the year's plan)
        spans = named[ci] if named is not None else milestone_spans(text, cs, ce)
        if not spans:
            if last is not None and last.status == "done" and last.date is None \
                    and out and out[-1] is last:
                when = within(cs, ce)
                rest = text[cs:ce]
                for d in reversed(when):
                    rest = rest[:d.start - cs] + rest[d.end - cs:]
                if len(when) == 1 and _AFTERTHOUGHT.fullmatch(rest) and when[0].date <= sent:
                    # 主体封顶了，前天: the day said after the fact, as speech does.
                    last = out[-1] = EventMention(last.start, last.end, last.milestone, "done",
                                                  when[0].date)
                    k = len(out) - 2
                    while k >= 0 and out[k].status == "done" and out[k].date is None \
                            and _CONNECTOR.match(text[out[k].end:out[k + 1].start]):
                        # 全线建成通车了，今天: the day is said of both.
                        out[k] = EventMention(out[k].start, out[k].end, out[k].milestone, "done",
                                              when[0].date)
                        k -= 1
                    continue
            # The new date follows 推迟到; with 预计…取得 it sits between the two words.
            follow = _RESCHEDULE.search(text, cs, ce)
            date_from = follow.end() if follow else cs
            if follow is None and last is not None and last.milestone in ("permit", "land"):
                follow = _OBTAIN_PLAN.search(text, cs, ce)
            if follow is None and last is not None and last.status == "not_done":
                # 没能按期竣工，估计明年二季度: the new expected date of what was missed (not
                # …，争取下周三前签下来: a date for another thing).
                follow = _EXPECT.match(text, cs, ce)
                when = within(cs, ce) if follow else []
                if not when or not _DATE_TAIL.fullmatch(text, when[-1].end, ce):
                    follow = None
            undated = (follow is None and last is not None and last.status == "planned"
                       and last.date is None and bool(out) and out[-1] is last
                       and not _SENTENCE_BREAK.search(text, last.end, cs))
            if undated:
                # 下一步办理竣工验收，计划4月底前完成: the plan's date, said after it.
                follow = _FINISH_PLAN.search(text, cs, ce)
                when = within(cs, ce)
                if follow is None and len(when) == 1 and when[0].for_plan(sent) > sent \
                        and _BARE_DATE.fullmatch(
                        text[cs:when[0].start] + text[when[0].end:ce]):
                    follow = _BARE_DATE.match(text, cs)  # 6月中旬吧: that date is the plan's
            if last is not None and follow:
                when = within(date_from, ce)
                if when:
                    planned_ev = EventMention(follow.start(), ce, last.milestone, "planned",
                                              when[0].for_plan(sent))
                    if out and out[-1] is last and (len(out) - 1 in bare or undated):
                        out[-1] = planned_ev  # 施工许可证，预计月底前能拿到: only the plan
                    else:
                        out.append(planned_ev)
                    last = planned_ev
            continue
        prev: EventMention | None = None
        for i, (ms, me, kind) in enumerate(spans):
            left = spans[i - 1][1] if i else cs
            right = spans[i + 1][0] if i + 1 < len(spans) else ce
            prefix, suffix = text[left:ms], text[me:right]
            if i and prefix.startswith("了"):
                prefix = " " + prefix[1:]  # 封顶√ 6.18开工: that 了 is said of 封顶
            if _HELD_UP.search(prefix):
                continue
            pre_dates = within(left, ms)
            post_dates = within(me, right)
            if _WHETHER.search(prefix):
                continue  # 本月底能否通车还不确定: a question, nothing reported
            if text.startswith("节点", me) and (_NODE_PASSED.match(text, me + 2)
                                               or _NODE_AHEAD.match(text, me + 2)):
                # 竣工节点已逾期, 竣工节点还有20个工作日 (a reminder quoted, or said back): the
                # deadline, not the event; what the reply says of it is reported.
                continue
            cue = _TIME_SET_LATER.match(text, me + 2) if _AS_TIME.match(text, me) else None
            if cue is not None and post_dates and post_dates[0].start < cue.end():
                # 竣工时间昨天定下来了: the day of the decision, not of the milestone
                post_dates = [d for d in post_dates if d.start >= cue.end()]
            if _AS_TIME.match(text, me) and not post_dates \
                    and not _UNCHANGED_AFTER.match(text, me):
                # 投产时间要往后推，…，预计2月下旬: the first date later in the sentence, said
                # alone in its clause (预计2月下旬, 9月28号, 现在定在5月中旬) and still to come;
                # none (竣工时间昨天定下来了, …，原定5月30日, …，设备下周才到): nothing reported.
                later = within(ce, sentence_end(me))
                if not later or _MILESTONE.search(text, ce, later[0].start) \
                        or later[0].date <= sent or not _alone_in_clause(text, later[0]):
                    continue
                ev = EventMention(ms, me, kind, "planned", later[0].for_plan(sent),
                                  rolled=later[0].for_plan(sent) != later[0].date,
                                  moved=_SLIPPED.search(text, me, ce) is not None)
                out.append(ev)
                prev = last = ev
                continue
            status = "not_done" if _SPLIT_NEG.search(text, ms, me) else _status(prefix)
            if kind == "started" and text.startswith("进场", ms) and _MOVING_IN.search(
                    prefix, max(0, len(prefix) - 3)):
                status = "not_done"  # 施工单位还在进场: moving in, not yet at work
            if status is None and _SPLIT_DONE.search(text, ms, me):
                status = "done"
            span = pre_dates[-1] if pre_dates else None
            date = span.date if span else None
            if span is not None and status in (None, "done") and _THIS_PERIOD.fullmatch(
                    text, span.start, span.end) and (status == "done" or _DONE_IN_PERIOD.match(
                        text, span.end, ms)) and not _PERIOD_NOT_MET.search(text, me, ce):
                # 本周完成…主体封顶, 本周已开工: done within the period so far, on a day not
                # said (the period's end is no deadline here).
                status, span, date = "done", None, None
            if status is None and prev is not None and not pre_dates and _CONNECTOR.match(prefix):
                # 竣工投产, 竣工、投产: one date; 封顶然后竣工: a later step, date unknown.
                status = prev.status
                date = prev.date if not _THEN.search(prefix) else None
            moved = _RESCHEDULE.search(suffix)
            shifted = status == "planned" and _RESCHEDULE.search(prefix) is not None
            if moved is not None and status in (None, "planned"):
                # 竣工时间由7月底调整到8月中旬: the date after the change is the plan.
                after = within(me + moved.end(), right)
                if after:
                    span, status = after[0], "planned"
                    date = span.date
                    shifted = True
            if status is None and suffix.lstrip().startswith("了") and not pre_dates:
                status = "done"  # 全面建成了，下个月投产: the date after is the next step's
            if status is None and carried and (pre_dates or post_dates):
                status = "planned"  # 计划明年3月设备进场，6月投产
            if status is None and span is not None and _DEADLINE.match(text, span.end, ms):
                status = "planned"  # 本月底前东广场完工: a deadline, whatever stands between
            if date is None and post_dates and status in (None, "planned") \
                    and "了" not in text[me:post_dates[0].start]:
                span = post_dates[0]
                date = span.date
            if status is None:
                # 建成投运尚未完成: words after a run of joined milestones are said of all.
                j = i
                while j + 1 < len(spans) and _CONNECTOR.match(text[spans[j][1]:spans[j + 1][0]]):
                    j += 1
                status = _status(suffix if j == i else text[spans[j][1]:(
                    spans[j + 1][0] if j + 1 < len(spans) else ce)])
            if status == "done" and date is not None and date > sent and _AT_RISK.match(suffix):
                status = "planned"  # 6月30日通车可能保不住了: a target in doubt, not done
            if (span is not None and span.yearless and date is not None and date > sent
                    and status in (None, "done")):
                # 已于12月28日开工 sent in January: last December, not next (the year is
                # inferred, so the card asks to check it). Without status words, a date
                # more than half a year ahead is read the same way.
                back = span.year_back()
                if back <= sent and (status == "done" or (date - sent).days > 183):
                    date, status = back, "done"
            if status == "done" and date is None and len(post_dates) == 1 \
                    and post_dates[0].date <= sent and _AFTERTHOUGHT.fullmatch(
                        text[me:post_dates[0].start].lstrip("了 ，,（(") + text[
                            post_dates[0].end:right]):
                span = post_dates[0]  # 已经试生产了上礼拜五开始的
                date = span.date
                if prev is not None and out and out[-1] is prev and prev.status == "done" \
                        and prev.date is None and _CONNECTOR.match(prefix):
                    # 全线建成通车了今天: the day is said of both.
                    out[-1] = prev = EventMention(prev.start, prev.end, prev.milestone, "done",
                                                  date)
            if (status is None and span is not None and span.yearless and date is not None
                    and (sent - date).days > 183):
                date, status = span.for_plan(sent), "planned"  # 1月10号试生产, sent 12-28
            alone = (status is None and date is None and not prefix.strip()
                     and not suffix.strip())
            if status in (None, "done") and _UNCHANGED_AFTER.match(suffix):
                status = "planned"  # 试生产时间不变, 2月投产没变: the plan stands
            if status is None:
                status = "planned" if date is not None and date > sent else "done"
            if status == "done" and any(a <= ms < b for a, b in plan_sections):
                status = "planned"  # under a 下步计划 heading
            if status == "planned" and date is None and (
                    _SLIPPED_AFTER.match(suffix) or (_SLIPPED_BEFORE.search(prefix)
                                                    and suffix.lstrip().startswith("了"))):
                status = "not_done"  # 试生产推迟了, 施工单位推迟进场了: slipped, no new date
            if status == "not_done" and _MAY_MISS.search(prefix):
                # 可能赶不上5月底完工，预计6月15日: at risk, and the estimate after it is the
                # plan (not a date said of another milestone: …，竣工预计12月); without one,
                # not done
                stop_at = sentence_end(me)
                guess = _EXPECT_AFTER.search(text, me, stop_at)
                when = within(guess.end(), stop_at) if guess and not _MILESTONE.search(
                    text, me, guess.start()) else []
                if when:
                    span, date, status, shifted = (when[0], when[0].for_plan(sent), "planned",
                                                   True)
            if status == "not_done" and date is not None and date > sent \
                    and _LAST_UNITS.search(prefix):
                status = "planned"  # 剩下2栋本月底封顶: the last of them, on a date to come
            if status == "not_done":
                date = None
            elif status == "done" and date is not None and date > sent:
                status = "planned"
            elif status == "planned" and span is not None:
                date = span.for_plan(sent)
            if status == "planned" and not shifted and _AT_RISK.match(suffix):
                # 年底竣工有困难, 可能要推到明年2月: the target given up, the new date the plan
                stop_at = sentence_end(me)
                resched = _RESCHEDULE.search(text, me, stop_at)
                when = within(resched.end(), stop_at) if resched else []
                if not when:
                    if _SUPERSEDED.search(prefix) and _MISSED.search(text, me, stop_at):
                        # 原计划年底竣工肯定完不成了，争取明年4月: the old plan missed (the new
                        # one is its own mention)
                        add_missed(ms, me, kind)
                    continue
                span, date, shifted = when[0], when[0].for_plan(sent), True
            ev = EventMention(ms, me, kind, status, date,
                              rolled=span is not None and date is not None and date != span.date,
                              moved=shifted and status == "planned")
            if status == "not_done" and moved is None:
                guess = _EXPECT_AFTER.search(suffix)
                after = within(me + guess.end(), right) if guess else []
                if after:  # 没能按期完工估计要到明年二季度
                    out.append(ev)
                    ev = EventMention(ms, me, kind, "planned", after[0].for_plan(sent))
            if status == "not_done" and moved is not None and not _SUPERSEDED.search(prefix):
                # 没能按期竣工推迟到明年3月底: missed, and the new plan.
                after = within(me + moved.end(), right)
                if after:
                    out.append(ev)
                    ev = EventMention(ms, me, kind, "planned", after[0].for_plan(sent))
            if _SUPERSEDED.search(prefix):
                # 原定5月底竣工推迟到6月中旬: only the new plan is reported.
                resched = _RESCHEDULE.search(suffix)
                when = within(me + resched.end(), right) if resched else []
                if when:
                    new = when[0].for_plan(sent)
                    ev = EventMention(ms, me, kind, "planned", new, rolled=new != when[0].date)
                    out.append(ev)
                else:
                    if _MISSED.search(text, me, sentence_end(me)):
                        # 原计划8月试生产，没能按期 / 原定8月开业，肯定赶不上了: missed
                        ev = add_missed(ms, me, kind)
            else:
                out.append(ev)
                if alone:
                    bare.add(len(out) - 1)
                if status == "not_done" and not _NEG.search(prefix + suffix):
                    under_way.add(len(out) - 1)
            prev = last = ev
    planned = {e.milestone for e in out if e.status == "planned"}
    done = {e.milestone for e in out if e.status == "done"}
    # (原定1月试生产未能实现，调整后已于4月试生产: the old plan missed, then met)
    return [e for i, e in enumerate(out) if (i not in under_way or e.milestone not in planned)
            and (i not in missed or e.milestone not in done)]


# A report form's section of plans (二、下月计划 / 下步工作打算：): what it lists is planned.
# It opens a line, or a sentence (…主体封顶。下周计划：7#楼封顶).
_PLAN_HEADING = guarded(
    r"(?:^|(?<=[。；;！!]))[ \t]*(?:[一二三四五六七八九十]{1,3}[、.．]|\d{1,2}[、.．]"
    r"|[(（][一二三四五六七八九十\d]{1,3}[)）]|【)?"
    r"[ \t]*(?:下[一]?(?:步|周|月|阶段|季度|年度?)|明年|今后|近期|\d{4}年|后续)?"
    r"(?:工作)?(?:计划|打算|安排|目标|重点)(?:安排)?】?[ \t]*[:：]?",
    re.M,
)
# Any other heading ends the section: 三、存在问题, 【P008…】, 四、下步…, 本周完成：, 需协调事项
_HEADING = re.compile(
    r"^[ \t]*(?:[一二三四五六七八九十]{1,3}[、.．]|【|[(（][一二三四五六七八九十]{1,3}[)）]"
    r"|(?:存在|主要)?(?:问题|困难)|[A-Za-z]{1,3}\d{2,6}[ \t]*[:：]"
    r"|(?:本|上|这)(?:周|月|期)(?:完成|工作|进展|情况)|(?:需要?)?协调(?:解决)?的?(?:事项|问题))",
    re.M)
# Within a line, a heading that opens a sentence: …。存在问题：无
_SENTENCE_HEADING = re.compile(r"[。；;！!][ \t]*[^，,。；;！!：:\n]{2,8}[:：]")


def _plan_sections(text: str) -> list[tuple[int, int]]:
    """(start, end) of each section of a message headed as plans."""
    if "计划" not in text and "打算" not in text and "安排" not in text:
        return []
    out: list[tuple[int, int]] = []
    headings: list[int] | None = None  # where other headings start, found once (linear)
    for m in _PLAN_HEADING.finditer(text):
        line_end = text.find("\n", m.end())
        if line_end < 0:
            line_end = len(text)
        if text[m.end():line_end].strip() and not text[m.start():m.end()].rstrip().endswith(
                ("：", ":")):
            continue  # 计划下周开工 is a sentence, not a heading
        if out and m.start() < out[-1][1]:
            continue  # inside the section already found
        if m.start() and text[m.start() - 1] != "\n":
            # Opened mid-line: the section is the rest of that line, up to the next heading.
            nxt = _SENTENCE_HEADING.search(text, m.end(), line_end)
            out.append((m.start(), nxt.start() + 1 if nxt else line_end))
            continue
        if headings is None:
            headings = [h.start() for h in _HEADING.finditer(text)]
        i = bisect.bisect_right(headings, line_end)
        out.append((m.start(), headings[i] if i < len(headings) else len(text)))
    return out
